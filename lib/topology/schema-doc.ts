// Renders the field reference of docs/topology.md from topology.schema.json: one Markdown table row per
// field path (`hosts[].vswitches[].mtu`), with its type and description. A test checks that the doc
// contains this table verbatim, so the doc cannot drift from the schema. Leaves out prose and examples.

import schema from './topology.schema.json' with { type: 'json' };

type SchemaNode = {
  $ref?: string; type?: string | string[]; enum?: unknown[]; items?: SchemaNode; properties?: Record<string, SchemaNode>;
  description?: string; required?: string[]; minimum?: number; maximum?: number; maxItems?: number;
};

const definitions = (schema as unknown as { definitions: Record<string, SchemaNode> }).definitions;

function resolve(node: SchemaNode): SchemaNode {
  if (!node.$ref) return node;
  const target = definitions[node.$ref.replace('#/definitions/', '')];
  if (!target) throw new Error(`unresolved ${node.$ref}`);
  // Sibling keywords (a field-specific description) win over the referenced definition's.
  const { $ref: _ref, ...siblings } = node;
  return { ...resolve(target), ...siblings };
}

function typeText(n: SchemaNode): string {
  if (n.enum) return n.enum.map((v) => `\`${String(v)}\``).join(' \\| ');
  const types = Array.isArray(n.type) ? n.type : n.type ? [n.type] : [];
  const parts = types.map((t) => {
    if (t === 'array') return n.items ? `list of ${typeText(resolve(n.items))}` : 'list';
    if (t === 'object') return 'mapping';
    if (t === 'integer' && n.minimum !== undefined && n.maximum !== undefined) return `integer ${n.minimum}-${n.maximum}`;
    return t;
  });
  return parts.join(' or ');
}

/** The Markdown field table (header included), in schema order. */
export function schemaFieldTable(): string {
  const rows: string[] = ['| Field | Type | Description |', '|---|---|---|'];
  const walk = (node: SchemaNode, prefix: string) => {
    const props = node.properties ?? {};
    for (const [key, raw] of Object.entries(props)) {
      const n = resolve(raw);
      const path = `${prefix}${key}`;
      const required = node.required?.includes(key) ? ' **(required)**' : '';
      rows.push(`| \`${path}\` | ${typeText(n)} | ${(n.description ?? '').replace(/\|/g, '\\|')}${required} |`);
      if (n.properties) walk(n, `${path}.`);
      else if (n.items) {
        const item = resolve(n.items);
        if (item.properties) walk(item, `${path}[].`);
      }
    }
  };
  walk(schema as unknown as SchemaNode, '');
  return rows.join('\n');
}
