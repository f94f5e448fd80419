// Cluster (operator only): each Asterisk node (reached or not and why, its owner replica, lease, registered
// extensions, calls) and each replica (last seen, live), from GET /v1/cluster, read again every few seconds.
import { t, register } from "../i18n.js";
import { h } from "../dom.js";
import { sheet, notice } from "../ui.js";
import { table } from "../table.js";

const EVERY = 5000;  // ms between reads: an owner change shows within a lease's renewal or so

const strings = {
  en: {
    "nav.cluster": "Cluster",
    "cluster.title": "Cluster",
    "cluster.health": "Health",
    "cluster.healthy": "Healthy: every node is reached and run by a live replica.",
    "cluster.unhealthy": "Attention: {problems}.",
    "cluster.p.unreached": "{n} node(s) not reached",
    "cluster.p.unowned": "{n} node(s) without a live owner",
    "cluster.p.dead": "{n} replica(s) not seen lately",
    "cluster.nodes": "Asterisk nodes",
    "cluster.replicas": "Replicas",
    "cluster.name": "Name",
    "cluster.ari": "ARI",
    "cluster.reachable": "Reached",
    "cluster.owner": "Owner",
    "cluster.nobody": "nobody",
    "cluster.lease": "Lease (s)",
    "cluster.epoch": "Epoch",
    "cluster.registered": "Registered",
    "cluster.calls": "Calls",
    "cluster.id": "ID",
    "cluster.seen": "Last seen (s ago)",
    "cluster.live": "Live",
    "cluster.yes": "yes",
    "cluster.no": "no",
    "cluster.no_nodes": "No node.",
    "cluster.no_replicas": "No replica.",
    "cluster.refresh": "Refresh",
  },
  vi: {
    "nav.cluster": "Cụm máy chủ",
    "cluster.title": "Cụm máy chủ",
    "cluster.health": "Tình trạng",
    "cluster.healthy": "Ổn định: mọi node đều kết nối được và có bản sao đang chạy quản lý.",
    "cluster.unhealthy": "Cần chú ý: {problems}.",
    "cluster.p.unreached": "{n} node không kết nối được",
    "cluster.p.unowned": "{n} node không có bản sao đang chạy quản lý",
    "cluster.p.dead": "{n} bản sao lâu không thấy hoạt động",
    "cluster.nodes": "Các node Asterisk",
    "cluster.replicas": "Các bản sao dịch vụ",
    "cluster.name": "Tên",
    "cluster.ari": "ARI",
    "cluster.reachable": "Kết nối",
    "cluster.owner": "Bản sao quản lý",
    "cluster.nobody": "không có",
    "cluster.lease": "Hạn thuê (giây)",
    "cluster.epoch": "Epoch",
    "cluster.registered": "Đã đăng ký",
    "cluster.calls": "Cuộc gọi",
    "cluster.id": "Mã",
    "cluster.seen": "Thấy lần cuối (giây trước)",
    "cluster.live": "Đang chạy",
    "cluster.yes": "có",
    "cluster.no": "không",
    "cluster.no_nodes": "Không có node nào.",
    "cluster.no_replicas": "Không có bản sao nào.",
    "cluster.refresh": "Làm mới",
  },
};
register(strings);

const yes = (v) => (v ? t("cluster.yes") : t("cluster.no"));
const seconds = (v) => (v === null || v === undefined ? "" : v.toFixed(1));

// What needs a person's eyes: nodes not reached, nodes whose owner is not a live replica, replicas gone quiet.
export function problems(cluster) {
  const live = new Set(cluster.replicas.filter((r) => r.live).map((r) => r.id));  // a node's owner is a replica id
  const found = [];
  const unreached = cluster.nodes.filter((n) => !n.reachable).length;
  const unowned = cluster.nodes.filter((n) => !n.owner || (cluster.replicas.length && !live.has(n.owner))).length;
  const dead = cluster.replicas.filter((r) => !r.live).length;
  if (unreached) found.push(t("cluster.p.unreached", { n: unreached }));
  if (unowned) found.push(t("cluster.p.unowned", { n: unowned }));
  if (dead) found.push(t("cluster.p.dead", { n: dead }));
  return found;
}

export default {
  id: "cluster",
  nav: "nav.cluster",
  operatorOnly: true,
  strings,
  async render(root, ctx) {
    sheet("../css/pages.css");
    const api = ctx.api;
    let alive = true;
    let timer = null;
    const status = notice(root);
    const body = h("div", { dataset: { test: "cluster" } });
    root.append(h("h1", {}, t("cluster.title")),
      h("div", { class: "buttons" }, h("button", { type: "button", onclick: () => load() }, t("cluster.refresh"))),
      status.node, body);

    async function load() {
      clearTimeout(timer);
      let cluster;
      try {
        cluster = await api("/v1/cluster");
      } catch (err) {
        if (alive) status.fail(err);
      }
      if (!alive) return;
      if (cluster) {
        status.clear();
        show(cluster);
        body.dataset.state = "ready";
      }
      timer = setTimeout(load, EVERY);
    }

    function show(cluster) {
      const found = problems(cluster);
      const names = new Map(cluster.replicas.map((r) => [r.id, r.name]));
      const owner = (n) => (n.owner ? (names.has(n.owner) ? `${names.get(n.owner)} (${n.owner})` : n.owner) : t("cluster.nobody"));
      body.replaceChildren(
        h("section", { "aria-labelledby": "cluster-health" },
          h("h2", { id: "cluster-health" }, t("cluster.health")),
          h("p", { class: found.length ? "unhealthy" : "healthy",
                    dataset: { test: "cluster-health", healthy: String(!found.length) } },
            found.length ? t("cluster.unhealthy", { problems: found.join("; ") }) : t("cluster.healthy"))),
        h("section", { "aria-labelledby": "cluster-nodes" },
          h("h2", { id: "cluster-nodes" }, t("cluster.nodes")),
          table({
            test: "node-table", rows: cluster.nodes, empty: t("cluster.no_nodes"),
            rowAttrs: (n) => ({ dataset: { test: "node-row", node: n.name, reachable: String(n.reachable) } }),
            columns: [
              { label: t("cluster.name"), cell: (n) => n.name, rowHeader: true },
              { label: t("cluster.ari"), cell: (n) => n.ari_url },
              { label: t("cluster.reachable"), cell: (n) => (n.reachable ? yes(true) : `${yes(false)}: ${n.ari_error || ""}`),
                test: "node-reachable" },
              { label: t("cluster.owner"), cell: owner, test: "node-owner" },
              { label: t("cluster.lease"), cell: (n) => seconds(n.lease_expires_in), num: true },
              { label: t("cluster.epoch"), cell: (n) => String(n.epoch), num: true },
              { label: t("cluster.registered"), cell: (n) => (n.registered_extensions ?? ""), num: true,
                test: "node-registered" },
              { label: t("cluster.calls"), cell: (n) => String(n.calls_in_progress), num: true, test: "node-calls" },
            ],
          })),
        h("section", { "aria-labelledby": "cluster-replicas" },
          h("h2", { id: "cluster-replicas" }, t("cluster.replicas")),
          table({
            test: "replica-table", rows: cluster.replicas, empty: t("cluster.no_replicas"),
            rowAttrs: (r) => ({ dataset: { test: "replica-row", replica: r.name, live: String(r.live) } }),
            columns: [
              { label: t("cluster.name"), cell: (r) => r.name, rowHeader: true },
              { label: t("cluster.id"), cell: (r) => r.id },
              { label: t("cluster.seen"), cell: (r) => seconds(r.last_seen_seconds_ago), num: true },
              { label: t("cluster.live"), cell: (r) => yes(r.live), test: "replica-live" },
            ],
          })));
    }

    await load();
    return () => { alive = false; clearTimeout(timer); };
  },
};
