// validate.mjs: checks Kubernetes manifests offline against the Kubernetes
// API schema that the npm package kubernetes-models ships (types, enums,
// required fields, formats), and, like kubeconform -strict, refuses fields
// the schema does not have (read from the package's type declarations).
// Usage: node validate.mjs [--json] FILE.yaml...   (exit 0 valid, 1 not)
// --json prints every document as JSON (one array) for further checks.
import { readFileSync, existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseAllDocuments } from "yaml";

const here = path.dirname(fileURLToPath(import.meta.url));
const modelsDir = path.join(here, "node_modules", "kubernetes-models");

// Fields of the interface declared in a .d.ts, each with the file of its
// type when that type is another model (for the recursion).
const cache = new Map();
function fieldsOf(dts) {
  if (cache.has(dts)) return cache.get(dts);
  const text = readFileSync(dts, "utf8");
  const imports = new Map();
  for (const m of text.matchAll(/import \{ (\w+) \} from "([^"]+)";/g)) {
    let p = m[2].replace(/\.js$/, "") + ".d.ts";
    p = p.startsWith(".") ? path.join(path.dirname(dts), p)
                         : path.join(here, "node_modules", p);
    imports.set(m[1], p);
  }
  const body = text.split(/export interface \w+[^{]*\{\n/)[1].split(/\n\}\n/)[0];
  const fields = new Map();
  for (const m of body.matchAll(/^ {4}"([^"]+)"\??: (.*)$/gm)) {
    const t = m[2].replace(/;$/, "");
    const ref = t.match(/^(?:Array<)?(IIoK8s\w+)>?$/);
    fields.set(m[1], ref && imports.has(ref[1]) && existsSync(imports.get(ref[1]))
      ? imports.get(ref[1]) : null);
  }
  cache.set(dts, fields);
  return fields;
}

function strict(value, dts, where, errors) {
  if (value === null || typeof value !== "object") return;
  if (Array.isArray(value)) {
    value.forEach((v, i) => strict(v, dts, `${where}[${i}]`, errors));
    return;
  }
  const fields = fieldsOf(dts);
  for (const [k, v] of Object.entries(value)) {
    if (!fields.has(k)) errors.push(`${where}/${k}: unknown field`);
    else if (fields.get(k)) strict(v, fields.get(k), `${where}/${k}`, errors);
  }
}

async function check(doc, name) {
  const { apiVersion, kind } = doc ?? {};
  if (!apiVersion || !kind) return [`${name}: no apiVersion or kind`];
  const dir = path.join(modelsDir, apiVersion);
  const dts = path.join(dir, `${kind}.d.ts`);
  if (!existsSync(dts)) return [`${name}: unknown kind ${apiVersion} ${kind}`];
  const mod = await import(pathToFileURL(path.join(dir, `${kind}.js`)).href);
  const errors = [];
  try {
    new mod[kind](doc).validate();
  } catch (e) {
    errors.push(...String(e.message).split(", ").map((s) => `${name}: ${s}`));
  }
  strict(doc, dts, `${name}: data`, errors);
  return errors;
}

const args = process.argv.slice(2);
const json = args[0] === "--json";
const files = json ? args.slice(1) : args;
let bad = 0;
const all = [];
for (const f of files) {
  const docs = parseAllDocuments(readFileSync(f, "utf8"));
  for (const [i, d] of docs.entries()) {
    if (d.errors.length) {
      console.error(`${f}#${i + 1}: YAML: ${d.errors[0].message}`);
      bad++;
      continue;
    }
    const doc = d.toJS();
    if (doc === null) continue;
    all.push(doc);
    const name = `${f}#${i + 1} ${doc.kind ?? "?"}/${doc.metadata?.name ?? "?"}`;
    const errors = await check(doc, name);
    for (const e of errors) console.error(e);
    if (errors.length) bad++;
    else if (!json) console.log(`${name}: valid`);
  }
}
if (json) console.log(JSON.stringify(all));
process.exit(bad ? 1 : 0);
