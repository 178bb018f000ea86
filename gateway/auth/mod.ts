/**
 * Access control of the gateway (issue 17): who may call what. Not wired into the routes yet.
 *
 * @module
 */
export * from "./principal.ts";
export * from "./oidc.ts";
export * from "./staff_token.ts";
export * from "./session.ts";
export * from "./middleware.ts";
export * from "./sign_in.ts";
