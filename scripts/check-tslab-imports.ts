/**
 * tslab (the notebooks' kernel) compiles lib/ itself and resolves imports its own way: a relative import
 * of a folder (`../backbone`) is not found, a file named like a package it imports (`ssim.ts`
 * importing "ssim.js") recurses forever, and a run-time `require("./x")` of a TypeScript file fails.
 * This lists all three so they can be fixed; the lint test runs it.
 */
import * as fs from "node:fs";
import * as path from "node:path";

export function tslabImportProblems(root: string): string[] {
  const problems: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".ts")) {
        const text = fs.readFileSync(p, "utf8");
        for (const m of text.matchAll(/\brequire\(\s*["'](\.[^"']*)["']/g))
          problems.push(`${path.relative(root, p)}: require("${m[1]}") of a TypeScript file; use a static import`);
        for (const m of text.matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g)) {
          const spec = m[1];
          if (spec.startsWith(".")) {
            const target = path.resolve(dir, spec);
            if (fs.existsSync(target) && fs.statSync(target).isDirectory())
              problems.push(`${path.relative(root, p)}: imports folder "${spec}"; write "${spec}/index"`);
          } else if (fs.existsSync(path.join(dir, `${spec.replace(/\.js$/, "")}.ts`)) && !spec.startsWith("node:")) {
            problems.push(`${path.relative(root, p)}: imports package "${spec}" from a folder holding ${spec.replace(/\.js$/, "")}.ts; rename the file`);
          }
        }
      }
    }
  };
  walk(root);
  return problems;
}

if (require.main === module) {
  const problems = tslabImportProblems(path.resolve(__dirname, "../lib"));
  process.stdout.write(problems.join("\n") + (problems.length ? "\n" : "no problems\n"));
  process.exit(problems.length ? 1 : 0);
}
