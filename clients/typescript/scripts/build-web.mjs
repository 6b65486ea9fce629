#!/usr/bin/env node
// Builds the web lobby into gateway/web/, which the gateway embeds into its binary (committed, so
// `cargo build` needs no Node):
//
//   index.html, lobby.css      copied from lobby/
//   js/lobby/src/*.js          the page, compiled by tsc (lobby/tsconfig.json)
//   js/src/**/*.js             the client library, compiled with it (the page imports it)
//
// tsc writes ES2022 modules with `.js` import specifiers, which the browser loads as they are: no
// bundler, no source maps. The output is deterministic, so the committed folder can be checked.
//
//   node scripts/build-web.mjs           build into gateway/web/ (replacing what is there)
//   node scripts/build-web.mjs --check   build into a temporary folder and fail, naming the files,
//                                        if gateway/web/ differs from it (stale, missing or extra)

import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const lobby = join(root, "lobby");
const target = resolve(root, "..", "..", "gateway", "web");
const check = process.argv.includes("--check");
const unknown = process.argv.slice(2).filter((arg) => arg !== "--check");
if (unknown.length > 0) {
  console.error(
    `build-web: unknown argument(s): ${unknown.join(" ")}\nusage: node scripts/build-web.mjs [--check]`,
  );
  process.exit(2);
}

const out = mkdtempSync(join(tmpdir(), "warren-web-"));
try {
  build(out);
  if (check) {
    const problems = compare(out, target);
    if (problems.length > 0) {
      console.error(`build-web: ${relative(process.cwd(), target) || target} is not what the sources build:`);
      for (const problem of problems) console.error(`  ${problem}`);
      console.error("run `npm run build:web` in clients/typescript and commit gateway/web/");
      process.exitCode = 1;
    } else {
      console.log(`build-web: ${target} is up to date (${files(out).length} files)`);
    }
  } else {
    rmSync(target, { recursive: true, force: true });
    for (const file of files(out)) {
      mkdirSync(dirname(join(target, file)), { recursive: true });
      copyFileSync(join(out, file), join(target, file));
    }
    console.log(`build-web: wrote ${files(target).length} files to ${target}`);
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}

function build(dir) {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  const result = spawnSync(
    process.execPath,
    [tsc, "-p", join(lobby, "tsconfig.json"), "--outDir", join(dir, "js")],
    {
      cwd: root,
      stdio: "inherit",
    },
  );
  if (result.status !== 0) {
    console.error(`build-web: tsc failed (${result.status ?? result.signal})`);
    process.exit(1);
  }
  for (const file of ["index.html", "lobby.css"]) copyFileSync(join(lobby, file), join(dir, file));
}

/** Every file under `dir`, as sorted forward-slash paths relative to it. */
function files(dir, prefix = "") {
  let entries;
  try {
    entries = readdirSync(join(dir, prefix), { withFileTypes: true });
  } catch (error) {
    if (error.code === "ENOENT") return [];
    throw error;
  }
  const found = [];
  for (const entry of entries) {
    const path = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) found.push(...files(dir, path));
    else found.push(path);
  }
  return found.sort();
}

function compare(built, committed) {
  const want = files(built);
  const have = new Set(files(committed));
  const problems = [];
  for (const file of want) {
    if (!have.has(file)) problems.push(`missing: ${file}`);
    else if (!readFileSync(join(built, file)).equals(readFileSync(join(committed, file))))
      problems.push(`stale:   ${file}`);
    have.delete(file);
  }
  for (const file of [...have].sort()) problems.push(`extra:   ${file}`);
  return problems;
}
