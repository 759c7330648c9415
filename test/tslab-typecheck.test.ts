/**
 * The notebooks' kernel (tslab 1.0.22) type-checks lib/ with its own TypeScript 5.0.4, non-strict, before
 * it runs a cell; a type error there fails every notebook with an empty `<Error>`. This checks lib/ with that
 * compiler and tslab's options, so `npm run test:fast` finds it without Jupyter.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";

const root = path.resolve(__dirname, "..");

function libFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return libFiles(p);
    return e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [p] : [];
  });
}

test("lib/ type-checks with tslab's TypeScript 5.0.4 and its non-strict options", () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ts = require(path.join(root, "node_modules", "@tslab", "typescript-for-tslab")) as typeof import("typescript");
  assert.match(ts.version, /^5\.0\./, "tslab's compiler moved: update this test's options from node_modules/tslab/dist/converter.js");
  // the options tslab's converter passes (node_modules/tslab/dist/converter.js), minus the emit ones
  const options = {
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    esModuleInterop: true,
    target: ts.ScriptTarget.ES2022,
    lib: ["lib.es2022.d.ts"],
    resolveJsonModule: true,
    experimentalDecorators: true,
    skipLibCheck: true,
    noEmit: true,
    types: ["node"],
  } as import("typescript").CompilerOptions;
  const program = ts.createProgram(libFiles(path.join(root, "lib")), options);
  const problems = ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.category === ts.DiagnosticCategory.Error)
    .map((d) => {
      const where = d.file ? `${path.relative(root, d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}` : "";
      return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
    });
  assert.deepEqual(problems, []);
});
