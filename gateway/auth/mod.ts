/**
 * Access control of the gateway: the credentials it checks and how. `gateway/access.ts` wires them
 * into one guard per audience.
 *
 * @module
 */
export * from "./principal.ts";
export * from "./oidc.ts";
export * from "./staff_token.ts";
export * from "./session.ts";
export * from "./middleware.ts";
export * from "./sign_in.ts";
