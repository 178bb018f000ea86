/**
 * JSON Schema 2020-12 component schemas generated with zod's `z.toJSONSchema`, for the OpenAPI
 * (`/openapi.json`) and AsyncAPI (`/asyncapi.json`) documents: one registry, references between
 * them as `#/components/schemas/{id}`, without the `$schema` and `$id` a component does not carry.
 */
import { z } from "zod";

/** A JSON object. */
export type Json = Record<string, unknown>;

/**
 * The component schemas of `schemas`, each described from the side `ioOf` names: `input` as a
 * validator reads it (a request body), `output` as it is written (an answer, a record).
 *
 * @param schemas The zod schemas by component name.
 * @param ioOf The side of each component. @default every one `output`
 */
export function componentSchemas(
  schemas: Readonly<Record<string, z.ZodType>>,
  ioOf: (id: string) => "input" | "output" = () => "output",
): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(schemas)) registry.add(schema, { id });
  const generated = new Map<"input" | "output", Record<string, Json>>();
  const side = (io: "input" | "output"): Record<string, Json> => {
    let list = generated.get(io);
    if (list === undefined) {
      list = z.toJSONSchema(registry, {
        target: "draft-2020-12",
        io,
        uri: (id) => `#/components/schemas/${id}`,
      }).schemas;
      generated.set(io, list);
    }
    return list;
  };
  return Object.fromEntries(
    Object.keys(schemas).map((id) => {
      const { $schema: _s, $id: _i, ...schema } = side(ioOf(id))[id]!;
      return [id, schema];
    }),
  );
}

/** One schema on its own (a parameter's), read as a validator reads it. */
export function inputSchema(schema: z.ZodType): Json {
  const { $schema: _s, ...rest } = z.toJSONSchema(schema, { target: "draft-2020-12", io: "input" });
  return rest;
}
