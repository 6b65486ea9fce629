#!/usr/bin/env python3
"""What scripts/check-k8s asks of the rendered manifests beyond their schemas.

    check.py --bin-dir target/debug RENDERED.yaml...

Each file is one render of deploy/k8s (the base or an overlay), as `kubectl kustomize` prints it.
For each it asserts: one Deployment per Warren process, running that process's binary; probes on
/readyz and /healthz at ports the container declares, and on the ports the process listens on;
requests and limits; the security context; a `metrics` port matching the scrape annotations; a
PodDisruptionBudget per Deployment that still lets a node drain; autoscalers for the gateway and
sessions; the gateway's preStop sleep and a grace period that covers it and the drain; the
gateway's Service and Ingress; no Secret in the output, and only keys of secrets.env.example
read from warren-secrets; each process on its own broker user, which the dev broker makes with
setup-users.sh; every `$(VAR)` defined before its use; every WARREN_* variable one the binary's
--help names. Last, each process is started with its rendered settings (secrets as stand-ins,
every broker and Redis address pointed at a closed port on 127.0.0.1) and must get as far as
connecting: a setting the binary refuses makes it exit 2 first.
"""

import argparse
import json
import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import yaml

PROCESSES = ["gateway", "auth", "accounts", "sessions", "rooms", "private-rooms", "matchmaker"]
AUTOSCALED = {"warren-gateway", "warren-sessions"}
SECRET = "warren-secrets"
HERE = Path(__file__).resolve().parent

# A service answers what it holds for up to 30 s (bus/src/serve.rs), then gives its background
# work 10 s (runtime/src/service.rs). The gateway's HTTP requests finish within the 30 s idle
# timeout (gateway/src/listener.rs), then its sockets get the 10 s call timeout and 2 s to close
# (gateway/src/lib.rs).
SERVICE_DRAIN_S = 40
GATEWAY_DRAIN_S = 42

# How long a binary may take to reach its first connection attempt.
START_LIMIT_S = 60

failures = []


def fail(where, what):
    failures.append(f"{where}: {what}")


def secret_keys():
    keys = set()
    for line in (HERE / "secrets.env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keys.add(line.split("=", 1)[0])
    return keys


def port_of(address):
    """The port of a listen address such as 0.0.0.0:9090 or [::]:9090."""
    return int(address.rsplit(":", 1)[1])


def host_of(address):
    return address.rsplit(":", 1)[0]


def resolve_env(where, container, configmaps, keys):
    """The container's environment as Kubernetes builds it: envFrom first, then env in order,
    each `$(VAR)` filled from what came before. Secret values are stand-ins; returns the
    variables and, for each one read from warren-secrets, the key it was read from."""
    env, from_secret = {}, {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            name = source["configMapRef"]["name"]
            if name not in configmaps:
                fail(where, f"envFrom names ConfigMap {name}, which the render does not have")
                continue
            env.update(configmaps[name].get("data", {}))
        else:
            fail(where, f"envFrom {source}: only ConfigMaps (secrets are read key by key)")
    for item in container.get("env", []):
        name = item["name"]
        if "value" in item:
            value = item["value"]
            for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", value):
                if ref not in env:
                    fail(
                        where,
                        f"{name} uses $({ref}), not defined before it: Kubernetes would leave it as written",
                    )
            env[name] = re.sub(
                r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), value
            )
        elif "secretKeyRef" in item.get("valueFrom", {}):
            ref = item["valueFrom"]["secretKeyRef"]
            if ref["name"] != SECRET or ref["key"] not in keys:
                fail(
                    where,
                    f"{name} reads {ref['name']}/{ref['key']}, not a key of {SECRET} in secrets.env.example",
                )
            from_secret[name] = ref["key"]
            if ref["key"] == "WARREN_JWT_SECRET":
                env[name] = "0123456789abcdef" * 4
            else:
                env[name] = "stand1n" + ref["key"].lower().replace("_", "")
        else:
            fail(where, f"{name}: a value or a key of {SECRET} only")
    return env, from_secret


def check_probe(where, container, kind, path, ports):
    probe = container.get(kind)
    get = (probe or {}).get("httpGet")
    if not get:
        fail(where, f"no {kind} with httpGet")
        return None
    if get.get("path") != path:
        fail(where, f"{kind} asks {get.get('path')}, not {path}")
    port = ports.get(get.get("port")) if isinstance(get.get("port"), str) else get.get("port")
    if port not in ports.values():
        fail(where, f"{kind} port {get.get('port')} is not one the container declares")
    return port


def check_deployment(where, deployment, configmaps, keys, help_of, hpas):
    process = deployment["metadata"]["name"].removeprefix("warren-")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"].get("labels", {})
    annotations = spec["template"]["metadata"].get("annotations", {})
    containers = pod["containers"]
    if len(containers) != 1:
        fail(where, f"{len(containers)} containers, expected one")
    container = containers[0]
    binary = f"warren-{process}"
    if container.get("command") != [binary]:
        fail(where, f"command {container.get('command')}, expected [{binary}]")
    if container.get("image", "").rsplit("/", 1)[-1].split(":")[0] != "warren":
        fail(where, f"image {container.get('image')} is not the warren image")
    if deployment["metadata"]["name"] in hpas and "replicas" in spec:
        fail(where, "autoscaled, yet sets replicas: every apply would reset the autoscaler's count")

    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    ready = check_probe(where, container, "readinessProbe", "/readyz", ports)
    check_probe(where, container, "livenessProbe", "/healthz", ports)

    resources = container.get("resources", {})
    for bound in ("requests", "limits"):
        for what in ("cpu", "memory"):
            if what not in resources.get(bound, {}):
                fail(where, f"no {what} in resources.{bound}")

    security = container.get("securityContext", {})
    pod_security = pod.get("securityContext", {})
    if not (security.get("runAsNonRoot") or pod_security.get("runAsNonRoot")):
        fail(where, "runAsNonRoot is not set")
    if security.get("readOnlyRootFilesystem") is not True:
        fail(where, "readOnlyRootFilesystem is not true")
    if security.get("allowPrivilegeEscalation") is not False:
        fail(where, "allowPrivilegeEscalation is not false")
    if "ALL" not in security.get("capabilities", {}).get("drop", []):
        fail(where, "capabilities do not drop ALL")

    if "metrics" not in ports:
        fail(where, "no port named metrics")
    elif (
        annotations.get("prometheus.io/scrape") != "true"
        or annotations.get("prometheus.io/port") != str(ports["metrics"])
        or annotations.get("prometheus.io/path") != "/metrics"
    ):
        fail(where, "prometheus.io annotations do not name the metrics port and /metrics")

    env, from_secret = resolve_env(where, container, configmaps, keys)

    # The ports the process listens on are the ones the container declares and the probes ask.
    listens = {"WARREN_LISTEN": "http" if process == "gateway" else "metrics"}
    if process == "gateway":
        listens["WARREN_ADMIN_LISTEN"] = "metrics"
    for variable, port_name in listens.items():
        if variable not in env:
            fail(where, f"{variable} is not set: the default listens on 127.0.0.1 only")
            continue
        if host_of(env[variable]) not in ("0.0.0.0", "[::]"):
            fail(where, f"{variable}={env[variable]} is not reachable from outside the pod")
        if port_of(env[variable]) != ports.get(port_name):
            fail(
                where,
                f"{variable}={env[variable]} is not the {port_name} port {ports.get(port_name)}",
            )
    if process == "gateway" and ready != ports.get("http"):
        fail(
            where, "the readiness probe is not on the client port, which stops answering at SIGTERM"
        )

    # Each process logs in as its own broker user, with its own password; the gateway's user is
    # the one the services trust with players.
    user = f"warren-{process}"
    urls = [u.strip() for u in env.get("WARREN_AMQP_URL", "").split(",") if u.strip()]
    if not urls:
        fail(where, "WARREN_AMQP_URL is not set")
    for url in urls:
        found = re.match(r"amqps?://([^:@/]+):", url)
        if not found or found.group(1) != user:
            fail(where, f"a broker URL logs in as {found and found.group(1)}, not {user}")
    password_key = f"WARREN_AMQP_PASSWORD_{process.upper().replace('-', '_')}"
    if password_key not in from_secret.values():
        fail(where, f"the broker password is not read from {SECRET}/{password_key}")
    if env.get("WARREN_AMQP_GATEWAY_USER") != "warren-gateway":
        fail(where, "WARREN_AMQP_GATEWAY_USER is not warren-gateway")

    # Every WARREN_* variable is one the binary reads.
    read = set(re.findall(r"WARREN_[A-Z0-9_]+", help_of(binary)))
    for name in sorted(env):
        if name.startswith("WARREN_") and name not in read:
            fail(where, f"{name} is set, but {binary} --help does not name it")

    grace = pod.get("terminationGracePeriodSeconds", 30)
    if process == "gateway":
        pre_stop = container.get("lifecycle", {}).get("preStop", {})
        command = pre_stop.get("exec", {}).get("command", [])
        seconds = pre_stop.get("sleep", {}).get("seconds")
        if seconds is None and len(command) == 2 and command[0] == "sleep" and command[1].isdigit():
            seconds = int(command[1])
        if not seconds:
            fail(
                where,
                "no preStop sleep: a gateway would stop accepting before the endpoints drop it",
            )
        elif grace < seconds + GATEWAY_DRAIN_S:
            fail(
                where,
                f"terminationGracePeriodSeconds {grace} < preStop {seconds} s + drain {GATEWAY_DRAIN_S} s",
            )
    elif grace < SERVICE_DRAIN_S:
        fail(
            where,
            f"terminationGracePeriodSeconds {grace} < the service's drain, {SERVICE_DRAIN_S} s",
        )

    return labels, env


def check_broker(name, by_kind, environments, keys):
    """The dev overlay's broker runs deploy/rabbitmq/entrypoint.sh: its settings must be ones
    setup-users.sh reads, with a password for each of the script's users, and the script's users
    and vhost the ones the processes log in with."""
    script = (HERE.parent / "rabbitmq" / "setup-users.sh").read_text()
    script_users = re.findall(r'^  "([a-z-]+)" "(WARREN_AMQP_PASSWORD_[A-Z_]+)"$', script, re.M)
    for workload in by_kind.get("StatefulSet", {}).values():
        for container in workload["spec"]["template"]["spec"]["containers"]:
            if not any("entrypoint.sh" in part for part in container.get("command", [])):
                continue
            where = f"{name}: broker {workload['metadata']['name']}"
            env, _ = resolve_env(where, container, {}, keys)
            read = set(re.findall(r"WARREN_[A-Z0-9_]+", script))
            for variable in sorted(env):
                if variable.startswith("WARREN_") and variable not in read:
                    fail(where, f"{variable} is set, but setup-users.sh does not read it")
            prefix = env.get("WARREN_BROKER_USER_PREFIX", "warren-")
            vhost = env.get("WARREN_BROKER_VHOST", "warren")
            if {prefix + user for user, _ in script_users} != {f"warren-{p}" for p in PROCESSES}:
                fail(where, "setup-users.sh's users are not one per process")
            for _, variable in script_users:
                if variable not in env:
                    fail(where, f"{variable} is not set: setup-users.sh refuses to run")
            for deployment, process_env in environments.items():
                for url in process_env.get("WARREN_AMQP_URL", "").split(","):
                    if url.strip() and urlsplit(url.strip()).path != f"/{vhost}":
                        fail(where, f"{deployment} does not use the vhost {vhost}")
            return
    if name == "dev":
        fail(name, "no broker running deploy/rabbitmq/entrypoint.sh")


def selects(selector, labels):
    match = selector.get("matchLabels", {})
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


def check_render(path, help_of, keys):
    docs = [d for d in yaml.safe_load_all(Path(path).read_text()) if d]
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    name = Path(path).stem
    if "Secret" in by_kind:
        fail(
            name,
            f"renders Secret {sorted(by_kind['Secret'])}: secrets are made apart, never from these files",
        )
    configmaps = by_kind.get("ConfigMap", {})
    deployments = {
        n: d for n, d in by_kind.get("Deployment", {}).items() if n.startswith("warren-")
    }
    expected = {f"warren-{p}" for p in PROCESSES}
    if set(deployments) != expected:
        fail(name, f"Deployments {sorted(deployments)}, expected {sorted(expected)}")

    hpas = {}
    for hpa in by_kind.get("HorizontalPodAutoscaler", {}).values():
        target = hpa["spec"]["scaleTargetRef"]
        if hpa["apiVersion"] != "autoscaling/v2" or target["kind"] != "Deployment":
            fail(
                name,
                f"HorizontalPodAutoscaler {hpa['metadata']['name']} is not autoscaling/v2 on a Deployment",
            )
        if not hpa["spec"].get("minReplicas", 1) <= hpa["spec"]["maxReplicas"]:
            fail(
                name,
                f"HorizontalPodAutoscaler {hpa['metadata']['name']}: minReplicas > maxReplicas",
            )
        hpas[target["name"]] = hpa["spec"].get("minReplicas", 1)
    for autoscaled in sorted(AUTOSCALED - set(hpas)):
        fail(name, f"no HorizontalPodAutoscaler for {autoscaled}")

    environments = {}
    for deployment_name, deployment in sorted(deployments.items()):
        where = f"{name}: Deployment {deployment_name}"
        labels, env = check_deployment(where, deployment, configmaps, keys, help_of, hpas)
        environments[deployment_name] = env
        budgets = [
            b
            for b in by_kind.get("PodDisruptionBudget", {}).values()
            if selects(b["spec"].get("selector", {}), labels)
        ]
        if len(budgets) != 1:
            fail(where, f"{len(budgets)} PodDisruptionBudgets select its pods, expected one")
            continue
        budget = budgets[0]["spec"]
        fewest = hpas.get(deployment_name, deployment["spec"].get("replicas", 1))
        if "minAvailable" in budget:
            if not isinstance(budget["minAvailable"], int) or budget["minAvailable"] >= fewest:
                fail(
                    where,
                    f"minAvailable {budget['minAvailable']} with {fewest} replicas: no pod could ever be evicted",
                )
        elif not isinstance(budget.get("maxUnavailable"), int) or budget["maxUnavailable"] < 1:
            fail(
                where,
                f"maxUnavailable {budget.get('maxUnavailable')}: no pod could ever be evicted",
            )

    check_broker(name, by_kind, environments, keys)

    gateway = deployments.get("warren-gateway")
    if gateway:
        pod_labels = gateway["spec"]["template"]["metadata"]["labels"]
        services = [
            s
            for s in by_kind.get("Service", {}).values()
            if selects({"matchLabels": s["spec"].get("selector", {})}, pod_labels)
        ]
        http = [
            s for s in services if any(p.get("targetPort") == "http" for p in s["spec"]["ports"])
        ]
        if not http:
            fail(name, "no Service sends to the gateway's http port")
        ingresses = by_kind.get("Ingress", {}).values()
        routed = [
            i
            for i in ingresses
            for rule in i["spec"].get("rules", [])
            for p in rule.get("http", {}).get("paths", [])
            if p["backend"].get("service", {}).get("name") in {s["metadata"]["name"] for s in http}
        ]
        if not routed:
            fail(name, "no Ingress routes to the gateway's Service")
        for ingress in routed:
            notes = ingress["metadata"].get("annotations", {})
            for timeout in ("proxy-read-timeout", "proxy-send-timeout"):
                value = notes.get(f"nginx.ingress.kubernetes.io/{timeout}", "")
                if not value.isdigit() or int(value) <= 60:
                    fail(
                        name,
                        f"Ingress {ingress['metadata']['name']}: {timeout} {value!r}, not above nginx's 60 s",
                    )
    return environments


def unreachable(urls):
    """The URLs with each host and port replaced by a closed port on this machine."""
    return re.sub(r"((?:amqps?|rediss?)://(?:[^@/,\s]*@)?)[^/,\s]+", r"\g<1>127.0.0.1:1", urls)


def start_each(environments, bin_dir):
    """Starts every process with its rendered settings, broker and Redis addresses pointed at a
    closed port, and waits until each either logs its first connection attempt (its settings
    passed) or exits (a refused setting: exit 2 and one line saying which)."""
    running = []
    for where, binary, env in environments:
        env = dict(env)
        for variable in ("WARREN_AMQP_URL", "WARREN_REDIS_URL"):
            if variable in env:
                env[variable] = unreachable(env[variable])
        env["PATH"] = "/usr/bin:/bin"
        process = subprocess.Popen(
            [str(bin_dir / binary)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        running.append((where, process))
    deadline = time.monotonic() + START_LIMIT_S
    for where, process in running:
        fd, pending, lines = process.stdout.fileno(), b"", []
        try:
            while not any(line.endswith("is not reachable yet") for line in map(message_of, lines)):
                left = deadline - time.monotonic()
                if left <= 0:
                    state = "running" if process.poll() is None else f"exited {process.returncode}"
                    fail(
                        where,
                        f"no connection attempt logged within {START_LIMIT_S} s ({state}): {lines[-3:]} {pending!r}",
                    )
                    break
                if not select.select([fd], [], [], left)[0]:
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    process.wait()
                    fail(
                        where,
                        f"exited {process.returncode} before connecting: {' '.join(lines[-3:] + [pending.decode()])}",
                    )
                    break
                *complete, pending = (pending + chunk).split(b"\n")
                lines += [line.decode(errors="replace").strip() for line in complete]
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            process.stdout.close()


def message_of(line):
    try:
        return json.loads(line).get("message", "")
    except ValueError:
        return line


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin-dir", required=True, type=Path)
    parser.add_argument("renders", nargs="+")
    args = parser.parse_args()

    helps = {}

    def help_of(binary):
        if binary not in helps:
            path = args.bin_dir / binary
            if not path.is_file():
                sys.exit(
                    f"error: {path} is missing: build the binaries first (cargo build --workspace --bins)"
                )
            helps[binary] = subprocess.run(
                [str(path), "--help"],
                env={"PATH": "/usr/bin:/bin"},
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        return helps[binary]

    keys = secret_keys()
    started = []
    for render in args.renders:
        environments = check_render(render, help_of, keys)
        for deployment, env in environments.items():
            started.append((f"{Path(render).stem}: Deployment {deployment}", deployment, env))
    start_each(started, args.bin_dir)

    if failures:
        for failure in failures:
            print(f"FAIL {failure}", file=sys.stderr)
        sys.exit(1)
    print(
        f"ok: {len(args.renders)} renders, {len(started)} Deployments checked and started with their settings"
    )


if __name__ == "__main__":
    main()
