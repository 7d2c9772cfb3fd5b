// A small JSON Schema (2020-12) checker for the keywords the published schemas use, so tests
// can check examples against the committed files without another dependency.

type Schema = Record<string, unknown>;

/** Errors ("path: reason") of `value` against `schema`; [] when it conforms. */
export function checkJsonSchema(schema: Schema, value: unknown, path = "$"): string[] {
  const errors: string[] = [];
  const type = schema.type as string | undefined;
  const typeOf = (v: unknown) =>
    v === null ? "null" : Array.isArray(v) ? "array" : Number.isInteger(v) ? "integer" : typeof v;
  if (type !== undefined) {
    const t = typeOf(value);
    const ok = t === type || (type === "number" && t === "integer");
    if (!ok) return [`${path}: expected ${type}, got ${t}`];
  }
  if (Array.isArray(schema.anyOf)) {
    const fits = (schema.anyOf as Schema[]).some((s) =>
      checkJsonSchema(s, value, path).length === 0
    );
    if (!fits) errors.push(`${path}: matches no anyOf branch`);
  }
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) {
    errors.push(`${path}: not in enum`);
  }
  if ("const" in schema && schema.const !== value) errors.push(`${path}: not the const`);
  if (typeof value === "string") {
    if (typeof schema.pattern === "string" && !new RegExp(schema.pattern, "u").test(value)) {
      errors.push(`${path}: does not match ${schema.pattern}`);
    }
    if (typeof schema.minLength === "number" && value.length < schema.minLength) {
      errors.push(`${path}: too short`);
    }
  }
  if (typeof value === "number") {
    if (typeof schema.minimum === "number" && value < schema.minimum) {
      errors.push(`${path}: below minimum`);
    }
    if (typeof schema.maximum === "number" && value > schema.maximum) {
      errors.push(`${path}: above maximum`);
    }
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === "number" && value.length < schema.minItems) {
      errors.push(`${path}: too few items`);
    }
    if (schema.items) {
      value.forEach((v, i) =>
        errors.push(...checkJsonSchema(schema.items as Schema, v, `${path}[${i}]`))
      );
    }
  }
  if (typeOf(value) === "object" && value !== null) {
    const obj = value as Record<string, unknown>;
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const r of (schema.required ?? []) as string[]) {
      if (!(r in obj)) errors.push(`${path}: missing ${r}`);
    }
    for (const [k, v] of Object.entries(obj)) {
      if (props[k]) errors.push(...checkJsonSchema(props[k], v, `${path}.${k}`));
      else if (schema.additionalProperties === false) errors.push(`${path}: unexpected key ${k}`);
      else if (typeof schema.additionalProperties === "object") {
        errors.push(...checkJsonSchema(schema.additionalProperties as Schema, v, `${path}.${k}`));
      }
    }
  }
  return errors;
}
