#!/usr/bin/env node
/** The `burrow` command: dispatches to a subcommand and turns mistakes into one clear line. */
import { closestFlag, flagList, UsageError } from "./args.js";
import {
  BENCH_HELP,
  benchCommand,
  DEL_HELP,
  delCommand,
  GET_HELP,
  getCommand,
  SET_HELP,
  STATS_HELP,
  setCommand,
  statsCommand,
  WARM_HELP,
  warmCommand,
} from "./client-commands.js";
import { CLUSTER_HELP, clusterCommand } from "./cluster-command.js";
import { NODE_HELP, nodeCommand } from "./node-command.js";
import { packageVersion, red } from "./terminal.js";

const HELP = `Usage: burrow <command> [flags]

Commands:
  node      run one cache node
  cluster   run a local dev cluster on an embedded demo data source
  get       print a key's value
  set       store a value
  del       delete a key everywhere
  stats     print the nodes' counters
  warm      load a list of keys into the cache
  bench     measure gets per second and latency against a cluster

Flags:
  -h, --help       this help
  -V, --version    print burrow's version

Run "burrow <command> --help" for a command's flags and examples.
Colour is used only on a terminal, and never when NO_COLOR is set.

Examples:
  burrow cluster --nodes 3
  burrow get users 42
  burrow stats --servers 127.0.0.1:5001`;

const commands: Record<string, { run: (args: string[]) => Promise<void>; help: string }> = {
  node: { run: nodeCommand, help: NODE_HELP },
  cluster: { run: clusterCommand, help: CLUSTER_HELP },
  get: { run: getCommand, help: GET_HELP },
  set: { run: setCommand, help: SET_HELP },
  del: { run: delCommand, help: DEL_HELP },
  stats: { run: statsCommand, help: STATS_HELP },
  warm: { run: warmCommand, help: WARM_HELP },
  bench: { run: benchCommand, help: BENCH_HELP },
};

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(HELP);
    return;
  }
  if (name === "--version" || name === "-V" || name === "version") {
    console.log(packageVersion());
    return;
  }
  const command = commands[name];
  if (!command) throw new UsageError(unknownCommandMessage(name));
  await command.run(rest);
}

/** burrow's own flags, for "did you mean" hints: the commands' flags come after the command. */
const TOP_LEVEL_FLAGS = { help: { short: "h" }, version: { short: "V" } } as const;

/** Why `name` is neither a command nor one of burrow's flags, with the nearest of those when one is close. */
function unknownCommandMessage(name: string): string {
  if (name.startsWith("-")) {
    const flag = name.replace(/=.*$/, "");
    if (/^-[^-]$/.test(flag)) {
      return `unknown flag '${flag}'; burrow's flags are ${flagList(TOP_LEVEL_FLAGS)}; run burrow --help`;
    }
    const guess = closestFlag(flag.replace(/^-+/, ""), Object.keys(TOP_LEVEL_FLAGS));
    const hint = guess === undefined ? "" : `did you mean --${guess}? `;
    return `unknown flag '${flag}'; ${hint}run burrow --help`;
  }
  // "help" and "version" work as words too.
  const guess = closestFlag(name, [...Object.keys(commands), "help", "version"]);
  const hint = guess === undefined ? "" : `did you mean "${guess}"? `;
  return `unknown command "${name}"; ${hint}run burrow --help`;
}

main(process.argv.slice(2)).catch((err: unknown) => {
  const usage = err instanceof UsageError;
  const command = process.argv[2] && commands[process.argv[2]] ? ` ${process.argv[2]}` : "";
  console.error(`${red(process.stderr, `burrow${command}:`)} ${(err as Error).message ?? String(err)}`);
  process.exit(usage ? 2 : 1);
});
