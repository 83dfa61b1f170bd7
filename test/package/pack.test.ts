/**
 * The package as a user gets it: `npm pack` (whose prepack script cleans and
 * builds dist/), the tarball installed into an empty project, then used the
 * three ways a user does: the `burrow` command, typed imports type-checked
 * under NodeNext, and a node started from the installed code and spoken to
 * over HTTP. Real npm, real processes; the registry is not needed beyond the
 * cache that `npm ci` filled (`--prefer-offline`).
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const TSC = join(ROOT, "node_modules", ".bin", "tsc");
const { name: PACKAGE_NAME, version: PACKAGE_VERSION } = JSON.parse(
  readFileSync(join(ROOT, "package.json"), "utf8"),
) as { name: string; version: string };

/** Bounds of each step, ms: generous for a shared two-core machine, but a hang still ends. */
const PACK_TIMEOUT_MS = 240_000;
const INSTALL_TIMEOUT_MS = 180_000;
const QUICK_COMMAND_TIMEOUT_MS = 30_000;
const TYPECHECK_TIMEOUT_MS = 120_000;

/** Files the tarball may hold: the manifest, README, LICENSE and compiled JavaScript with its declarations. */
const SHIPPED_FILE = /^package\/(package\.json|README\.md|LICENSE|dist\/.+\.(js|d\.ts))$/;

interface Run {
  /** The exit code; null when a signal ended it (as the kill at the step's timeout). */
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The environment for the npm processes: this one's, minus what a parent npm
 * (`npm test`) puts there about its own run (`npm_package_*`,
 * `npm_config_local_prefix`, `npm_lifecycle_*`, ...), which would make a
 * nested npm act on the repository instead of the project it is run in.
 * Where packages come from (cache, registry, config files, proxies) is kept.
 */
function childEnv(): NodeJS.ProcessEnv {
  const kept = /^npm_config_(cache|registry|userconfig|globalconfig|cafile|strict_ssl|.*proxy)$/i;
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key === "INIT_CWD" || (/^npm_/i.test(key) && !kept.test(key))) continue;
    env[key] = value;
  }
  return { ...env, NO_COLOR: "1" };
}

/**
 * Runs `command args` in `cwd` and resolves once it has exited and its output
 * is closed. It runs in a process group of its own, and the whole group gets
 * SIGKILL after `timeoutMs`, so that a hung npm cannot leave its children
 * (tsc, node) behind or hold the test past its bound.
 */
async function run(command: string, args: readonly string[], cwd: string, timeoutMs: number): Promise<Run> {
  const child = spawn(command, [...args], {
    cwd,
    env: childEnv(),
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timer = setTimeout(() => {
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // The group is already gone.
      }
    }
  }, timeoutMs);
  try {
    const [code] = (await once(child, "close")) as [number | null];
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

/** Everything a run printed, for a failure message that says why. */
const output = (result: Run) =>
  `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;

/** Every file under `dir`, as paths relative to it. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1));
}

/** A user's module: the typed API from two entry points, and two mistakes the types must catch. */
const CONSUMER_TS = `import { BurrowClient } from "burrow-cache";
import { createNode } from "burrow-cache/node";

const node = createNode({
  namespaces: { users: { load: async (key: string) => \`user \${key}\` } },
  logLevel: "silent",
});
const { port }: { port: number } = await node.listen(0);
const client = new BurrowClient([\`http://127.0.0.1:\${port}\`]);
export const name: string | undefined = await client.getString("users", "42");
// @ts-expect-error a node needs its namespaces (fails if the declarations degrade to any)
createNode({});
// @ts-expect-error getString resolves to a string or undefined, never a number
export const wrong: number = await client.getString("users", "42");
await client.close();
await node.close();
`;

/**
 * A user's script: every entry point resolved through the installed
 * package's exports, a node on port 0, a PUT and a GET over HTTP, the same
 * key through the client SDK, then both closed. It prints one JSON line and
 * must exit by itself (nothing left open).
 */
const USE_MJS = `import { createRequire } from "node:module";
import { BurrowClient } from "burrow-cache";
import { BurrowClient as ClientFromSubpath } from "burrow-cache/client";
import { createNode } from "burrow-cache/node";
import * as shared from "burrow-cache/shared";

const manifest = createRequire(import.meta.url)("burrow-cache/package.json");
const node = createNode({ namespaces: { users: { load: async () => undefined } }, logLevel: "silent" });
const { port } = await node.listen(0, "127.0.0.1");
try {
  const url = \`http://127.0.0.1:\${port}/_burrow/users/42\`;
  const put = await fetch(url, { method: "PUT", body: "hello" });
  await put.arrayBuffer();
  const get = await fetch(url);
  const body = await get.text();
  const client = new BurrowClient([\`http://127.0.0.1:\${port}\`]);
  let viaClient;
  try {
    viaClient = await client.getString("users", "42");
  } finally {
    await client.close();
  }
  console.log(JSON.stringify({
    name: manifest.name,
    sameClass: BurrowClient === ClientFromSubpath,
    sharedExports: Object.keys(shared).length,
    put: put.status,
    get: get.status,
    body,
    viaClient,
  }));
} finally {
  await node.close();
}
`;

describe("the packed tarball, installed into an empty project", () => {
  let workDir: string;
  let projectDir: string;
  let installedDir: string;
  let tarballFiles: string[];

  beforeAll(
    async () => {
      workDir = mkdtempSync(join(tmpdir(), "burrow-pack-"));
      const tarballDir = join(workDir, "tarball");
      projectDir = join(workDir, "project");
      mkdirSync(tarballDir);
      mkdirSync(projectDir);

      // prepack cleans dist/ and builds it, so the tarball never holds a stale build.
      const pack = await run("npm", ["pack", "--pack-destination", tarballDir], ROOT, PACK_TIMEOUT_MS);
      expect(pack.code, output(pack)).toBe(0);
      expect(readdirSync(tarballDir)).toEqual([`${PACKAGE_NAME}-${PACKAGE_VERSION}.tgz`]);
      const tarball = join(tarballDir, `${PACKAGE_NAME}-${PACKAGE_VERSION}.tgz`);
      const listing = await run("tar", ["-tzf", tarball], workDir, QUICK_COMMAND_TIMEOUT_MS);
      expect(listing.code, output(listing)).toBe(0);
      tarballFiles = listing.stdout.split("\n").filter((line) => line !== "");

      const init = await run("npm", ["init", "-y"], projectDir, QUICK_COMMAND_TIMEOUT_MS);
      expect(init.code, output(init)).toBe(0);
      // An ESM project, as NodeNext users with top-level await have.
      const manifestPath = join(projectDir, "package.json");
      const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as Record<string, unknown>;
      writeFileSync(manifestPath, `${JSON.stringify({ ...manifest, type: "module" }, null, 2)}\n`);

      const install = await run(
        "npm",
        ["install", tarball, "--prefer-offline", "--no-audit", "--no-fund"],
        projectDir,
        INSTALL_TIMEOUT_MS,
      );
      expect(install.code, output(install)).toBe(0);
      installedDir = join(projectDir, "node_modules", PACKAGE_NAME);
    },
    PACK_TIMEOUT_MS + INSTALL_TIMEOUT_MS + 3 * QUICK_COMMAND_TIMEOUT_MS,
  );

  afterAll(() => {
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it("holds only the manifest, README, LICENSE and dist's JavaScript and declarations", () => {
    const unexpected = tarballFiles.filter((file) => !SHIPPED_FILE.test(file));
    expect(unexpected).toEqual([]);
    for (const entry of ["index", "client/index", "node/index", "shared/index"]) {
      expect(tarballFiles).toContain(`package/dist/${entry}.js`);
      expect(tarballFiles).toContain(`package/dist/${entry}.d.ts`);
    }
    expect(tarballFiles).toEqual(
      expect.arrayContaining(["package/LICENSE", "package/README.md", "package/dist/cli/index.js"]),
    );
  });

  it("has no source map comment pointing at a file that was not shipped", () => {
    const dangling: string[] = [];
    for (const file of filesUnder(installedDir).filter((path) => /\.(js|d\.ts)$/.test(path))) {
      const text = readFileSync(join(installedDir, file), "utf8");
      for (const [, mapUrl] of text.matchAll(/^\/\/# sourceMappingURL=(\S+)$/gm)) {
        if (mapUrl === undefined || mapUrl.startsWith("data:")) continue;
        const mapPath = resolve(dirname(join(installedDir, file)), mapUrl);
        if (!existsSync(mapPath)) {
          dangling.push(`${file} -> ${mapUrl}`);
          continue;
        }
        const { sources } = JSON.parse(readFileSync(mapPath, "utf8")) as { sources: string[] };
        for (const source of sources) {
          if (!existsSync(resolve(dirname(mapPath), source))) dangling.push(`${file} -> ${source}`);
        }
      }
    }
    expect(dangling).toEqual([]);
  });

  it("installs the burrow command as an executable script with a node shebang", () => {
    const cli = join(installedDir, "dist", "cli", "index.js");
    expect(readFileSync(cli, "utf8").split("\n", 1)[0]).toBe("#!/usr/bin/env node");
    expect(statSync(cli).mode & 0o111).not.toBe(0);
    expect(existsSync(join(projectDir, "node_modules", ".bin", "burrow"))).toBe(true);
  });

  // `--no-install`: never install a package named burrow from the registry (that name is someone else's).
  it(
    "prints the package's version with npx burrow --version",
    async () => {
      const result = await run(
        "npx",
        ["--no-install", "burrow", "--version"],
        projectDir,
        QUICK_COMMAND_TIMEOUT_MS,
      );
      expect(result.code, output(result)).toBe(0);
      expect(result.stdout.trim()).toBe(PACKAGE_VERSION);
    },
    QUICK_COMMAND_TIMEOUT_MS + 5_000,
  );

  it(
    "prints the usage with npx burrow --help",
    async () => {
      const result = await run(
        "npx",
        ["--no-install", "burrow", "--help"],
        projectDir,
        QUICK_COMMAND_TIMEOUT_MS,
      );
      expect(result.code, output(result)).toBe(0);
      expect(result.stdout).toContain("Usage: burrow <command>");
      expect(result.stdout).toContain("--version");
    },
    QUICK_COMMAND_TIMEOUT_MS + 5_000,
  );

  it(
    "type-checks a strict NodeNext module importing burrow-cache and burrow-cache/node",
    async () => {
      writeFileSync(join(projectDir, "consumer.ts"), CONSUMER_TS);
      // Node's types from the repository (the project installs none); no skipLibCheck,
      // so the package's own declarations are checked too.
      const tsconfig = {
        compilerOptions: {
          target: "ES2023",
          lib: ["ES2023"],
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          noEmit: true,
          typeRoots: [join(ROOT, "node_modules", "@types")],
          types: ["node"],
        },
        files: ["consumer.ts"],
      };
      writeFileSync(join(projectDir, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));
      const result = await run(TSC, ["-p", "tsconfig.json"], projectDir, TYPECHECK_TIMEOUT_MS);
      expect(result.code, output(result)).toBe(0);
    },
    TYPECHECK_TIMEOUT_MS + 5_000,
  );

  it(
    "starts a node from the installed package, answers a PUT and a GET, and closes",
    async () => {
      writeFileSync(join(projectDir, "use.mjs"), USE_MJS);
      const result = await run(process.execPath, ["use.mjs"], projectDir, QUICK_COMMAND_TIMEOUT_MS);
      expect(result.code, output(result)).toBe(0);
      const lastLine = result.stdout.trim().split("\n").at(-1) ?? "";
      expect(JSON.parse(lastLine)).toEqual({
        name: PACKAGE_NAME,
        sameClass: true,
        sharedExports: expect.any(Number),
        put: 204,
        get: 200,
        body: "hello",
        viaClient: "hello",
      });
      expect((JSON.parse(lastLine) as { sharedExports: number }).sharedExports).toBeGreaterThan(0);
    },
    QUICK_COMMAND_TIMEOUT_MS + 5_000,
  );
});
