"""deploy/ says what docs/scale-out.md says (the schema check is scripts/check-deploy,
which needs kubernetes-validate from PyPI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from hotfn.cluster.nginx_conf import TEMPLATE
from tests.server_support import ROOT

DEPLOY = ROOT / "deploy"


def _objects(name: str) -> dict[str, dict[str, Any]]:
    docs = yaml.safe_load_all((DEPLOY / "kubernetes" / name).read_text())
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def test_the_nginx_template_in_deploy_is_the_one_rendered() -> None:
    assert (DEPLOY / "nginx" / "hotfn.conf.template").resolve() == TEMPLATE.resolve()


def test_hotfn_runs_on_every_node_with_its_own_instance_and_the_nodes_engine() -> None:
    ds = _objects("hotfn.yaml")["DaemonSet/hotfn"]["spec"]["template"]["spec"]
    (container,) = ds["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["HOTFN_INSTANCE"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert "HOTFN_SPILL_TO" not in env  # ingress-nginx has no @hotfn_spill location
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    paths = {v["name"]: v["hostPath"]["path"] for v in ds["volumes"]}
    assert paths["docker-sock"] == mounts["docker-sock"] == "/var/run/docker.sock"
    # iofs dirs are mounted into functions by their host path: the same path inside.
    assert paths["data"] == mounts["data"] == env["HOTFN_DATA_DIR"]["value"]


def test_ingress_hashes_calls_by_fn_and_never_resends_a_trigger() -> None:
    objs = _objects("ingress.yaml")
    invoke = objs["Ingress/hotfn-invoke"]["metadata"]["annotations"]
    triggers = objs["Ingress/hotfn-triggers"]["metadata"]["annotations"]
    api = objs["Ingress/hotfn-api"]["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    assert invoke[prefix + "upstream-hash-by"] == triggers[prefix + "upstream-hash-by"] == "$uri"
    assert invoke[prefix + "proxy-next-upstream"] == "error timeout"
    assert triggers[prefix + "proxy-next-upstream"] == "off"
    assert prefix + "upstream-hash-by" not in api


def test_postgres_is_a_service_the_db_url_names() -> None:
    objs = _objects("postgres.yaml")
    url = objs["Secret/hotfn-postgres"]["stringData"]["HOTFN_DB_URL"]
    port = objs["Service/hotfn-postgres"]["spec"]["ports"][0]["port"]
    assert f"@hotfn-postgres.hotfn.svc:{port}/" in url


def test_the_systemd_unit_gives_each_instance_its_own_data_dir() -> None:
    unit = Path(DEPLOY / "systemd" / "hotfn@.service").read_text()
    assert "Environment=HOTFN_DATA_DIR=/var/lib/hotfn/%i" in unit
    assert "EnvironmentFile=/etc/hotfn/%i.env" in unit
