//! The exported tool list, built from the registry only when it changes and shared as an
//! `Arc`: namespaced `<alias>__<tool>` names, compact and routed plain names, and the hub's
//! own fleet tools, with a name -> target map for dispatching calls.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use axum::body::Bytes;

use hyperfed_protocol::{MAX_EXPORTED_TOOL_NAME, is_valid_tool_name};
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};

use crate::auth::Scope;
use crate::cluster::Health;
use crate::config::ToolsMode;
pub(crate) use crate::fleet_decl::FleetTool;
use crate::fleet_decl::fleet_tools;
use crate::metrics::{FLEET, Label, OTHER};
use crate::validate::is_read_only;

/// What the catalog builder needs to know about one cluster.
#[derive(Clone)]
pub(crate) struct CatalogCluster {
    /// Its alias on the hub.
    pub alias: String,
    /// Its clusterName (shown in namespaced tool descriptions).
    pub cluster_name: String,
    /// Whether it is up (routed tools list only live clusters when there are any).
    pub health: Health,
    /// The worker's validated tools.
    pub tools: Arc<Vec<Tool>>,
}

/// Where an exported tool name leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// `<alias>__<tool>`: one tool on one cluster.
    Namespaced { alias: String, tool: String },
    /// A plain-named operation with a `cluster` argument (optional when it takes `vm`).
    Plain { tool: String, takes_vm: bool },
    /// One of the hub's own tools.
    Fleet(FleetTool),
}

/// An exported name's target plus what the audit needs.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub target: Target,
    /// False only for tools that declare `readOnlyHint: true`.
    pub mutating: bool,
    /// The metrics' `tool` label (the worker's tool name, or the fleet tool's).
    pub tool_label: Label,
    /// The metrics' `cluster` label: the alias of a namespaced tool, `fleet` for the hub's
    /// own tools, `other` for plain names until a call is routed.
    pub cluster_label: Label,
}

/// Tools per tools/list page: large fleets stay far below clients' 16 MiB message limits.
pub(crate) const TOOLS_PAGE: usize = 1000;
/// Our own opaque cursor form (never a worker's cursor).
pub(crate) const CURSOR_PREFIX: &str = "hf1.";

/// The offset a tools/list cursor of ours stands for.
pub(crate) fn parse_cursor(cursor: &str) -> Option<usize> {
    cursor.strip_prefix(CURSOR_PREFIX)?.parse().ok()
}

/// The slice of a `len`-item list served from `start`, and the cursor of the next page.
pub(crate) fn page(
    len: usize,
    start: usize,
    size: usize,
) -> (std::ops::Range<usize>, Option<String>) {
    let start = start.min(len);
    let end = len.min(start.saturating_add(size));
    let next = (end < len).then(|| format!("{CURSOR_PREFIX}{end}"));
    (start..end, next)
}

/// One tools/list result as it goes on the wire.
#[derive(serde::Serialize)]
struct PageJson<'a> {
    tools: &'a [Tool],
    #[serde(rename = "nextCursor", skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// The prebuilt tool list and dispatch map.
#[derive(Default)]
pub(crate) struct Catalog {
    pub tools: Arc<Vec<Tool>>,
    /// The tools a `read` token sees: read-only ones and the fleet tools (made on first use:
    /// most hubs never see a read-scoped token).
    read_only: OnceLock<Arc<Vec<Tool>>>,
    pub routes: HashMap<String, Route>,
    /// Encoded tools/list pages (read-only list, full list), made on first use: the catalog
    /// never changes once built, so neither do they.
    pages: [OnceLock<Vec<Bytes>>; 2],
    /// The mode this list was built in and why (`tools_budget` fills it in).
    pub mode: ModeNote,
    /// The metrics' `cluster` label of each registered alias (built with the catalog, so a
    /// call's label never comes from its arguments).
    cluster_labels: HashMap<String, Label>,
}

/// Which export mode a catalog is in and why (told to clients in the server instructions).
#[derive(Debug, Clone, Default)]
pub(crate) struct ModeNote {
    /// Namespaced, compact or both (never auto: auto picks one of the first two).
    pub active: ToolsMode,
    /// One sentence: the configured mode, or what the budget decided.
    pub why: String,
}

impl Catalog {
    /// The metrics label of a registered cluster alias (`other` for anything else).
    pub(crate) fn cluster_label(&self, alias: &str) -> Label {
        self.cluster_labels
            .get(alias)
            .cloned()
            .unwrap_or_else(|| Label::from(OTHER))
    }

    /// The tools a caller with `scope` may see (built once per catalog, shared).
    pub(crate) fn visible(&self, scope: Scope) -> &Arc<Vec<Tool>> {
        match scope {
            Scope::Read => self.read_only.get_or_init(|| {
                Arc::new(
                    self.tools
                        .iter()
                        .filter(|t| {
                            self.routes
                                .get(t.name.as_ref())
                                .is_some_and(|r| !r.mutating)
                        })
                        .cloned()
                        .collect(),
                )
            }),
            Scope::Operate | Scope::Admin => &self.tools,
        }
    }

    /// The JSON of the tools/list result page starting at `start` for `scope` (None for an
    /// offset that is not a page boundary of ours).
    pub(crate) fn page_json(&self, scope: Scope, start: usize) -> Option<Bytes> {
        if !start.is_multiple_of(TOOLS_PAGE) {
            return None;
        }
        let slot = usize::from(scope != Scope::Read);
        let pages = self.pages[slot].get_or_init(|| {
            let tools = self.visible(scope);
            let mut pages = Vec::with_capacity(tools.len() / TOOLS_PAGE + 1);
            let mut from = 0;
            loop {
                let (range, next) = page(tools.len(), from, TOOLS_PAGE);
                let json = PageJson {
                    tools: tools.get(range.clone()).unwrap_or_default(),
                    next_cursor: next,
                };
                // Encoding plain data cannot fail; an empty page is never served (see below).
                pages.push(
                    serde_json::to_vec(&json)
                        .map(Bytes::from)
                        .unwrap_or_default(),
                );
                from = range.end;
                if from >= tools.len() {
                    return pages;
                }
            }
        });
        pages
            .get(start / TOOLS_PAGE)
            .filter(|p| !p.is_empty())
            .cloned()
    }
}

fn fnv1a(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The namespaced name of `tool` on `alias`, shortened deterministically to 48 characters.
pub(crate) fn namespaced_name(alias: &str, tool: &str) -> String {
    let full = format!("{alias}__{tool}");
    if full.len() <= MAX_EXPORTED_TOOL_NAME {
        return full;
    }
    // alias (<=16) + "__" + prefix + "_" + 6 hex digits; tool names are ASCII (validated).
    let keep = MAX_EXPORTED_TOOL_NAME.saturating_sub(alias.len() + 2 + 7);
    let prefix = tool.get(..keep.min(tool.len())).unwrap_or("");
    format!("{alias}__{prefix}_{:06x}", fnv1a(tool) & 0x00ff_ffff)
}

fn takes_vm(tool: &Tool) -> bool {
    tool.input_schema
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| p.contains_key("vm"))
}

fn safe_text(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// Most aliases listed as the `cluster` argument's enum.
const MAX_ALIAS_ENUM: usize = 16;

fn with_cluster_arg(schema: &JsonObject, aliases: &[String], required: bool) -> JsonObject {
    let mut schema = schema.clone();
    let desc = if required {
        "Cluster alias to run this on."
    } else {
        "Cluster alias to run this on. Optional: without it the hub finds the cluster that owns `vm` (a VM uuid, or `alias/vm-name`)."
    };
    // Listing every alias in every tool costs ~15 bytes per cluster per tool; past a few
    // clusters the model reads the aliases once, from fleet_status, instead.
    let prop = if aliases.len() <= MAX_ALIAS_ENUM {
        json!({"type": "string", "enum": aliases, "description": desc})
    } else {
        json!({"type": "string", "description": format!("{desc} Aliases: see fleet_status.")})
    };
    let props = schema
        .entry("properties")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Value::Object(p) = props {
        p.insert("cluster".into(), prop);
    }
    if required {
        let req = schema
            .entry("required")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(r) = req
            && !r.iter().any(|v| v == "cluster")
        {
            r.push(Value::String("cluster".into()));
        }
    }
    schema
}

/// One plain name's view over every cluster offering the tool.
struct Merged<'a> {
    /// The definition most clusters share (ties: the first alias).
    base: &'a Tool,
    /// The most dangerous annotations any cluster declares.
    annotations: ToolAnnotations,
    /// True unless every cluster declares the tool read-only.
    mutating: bool,
    /// True when any cluster's tool takes a `vm` argument.
    takes_vm: bool,
}

fn merge_offers<'a>(offers: &[(&CatalogCluster, &'a Tool)]) -> Option<Merged<'a>> {
    let key = |t: &Tool| serde_json::to_string(t).unwrap_or_default();
    let mut counts: HashMap<String, (usize, usize)> = HashMap::new();
    for (i, (_, t)) in offers.iter().enumerate() {
        counts.entry(key(t)).or_insert((0, i)).0 += 1;
    }
    let base = counts
        .values()
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
        .and_then(|(_, i)| offers.get(*i))
        .map(|(_, t)| *t)?;
    let hint = |t: &Tool, f: fn(&ToolAnnotations) -> Option<bool>, default: bool| {
        t.annotations.as_ref().and_then(f).unwrap_or(default)
    };
    let all_read_only = offers.iter().all(|(_, t)| is_read_only(t));
    let any_destructive = offers
        .iter()
        .any(|(_, t)| !is_read_only(t) && hint(t, |a| a.destructive_hint, true));
    let all_idempotent = offers
        .iter()
        .all(|(_, t)| hint(t, |a| a.idempotent_hint, false));
    let any_open_world = offers
        .iter()
        .any(|(_, t)| hint(t, |a| a.open_world_hint, true));
    let mut annotations = ToolAnnotations::from_raw(
        None,
        Some(all_read_only),
        Some(any_destructive),
        Some(all_idempotent),
        Some(any_open_world),
    );
    annotations.title = base.annotations.as_ref().and_then(|a| a.title.clone());
    Some(Merged {
        base,
        annotations,
        mutating: !all_read_only,
        takes_vm: offers.iter().any(|(_, t)| takes_vm(t)),
    })
}

/// Builds the catalog for `clusters` (any order) in `mode`.
pub(crate) fn build(mode: ToolsMode, clusters: &[CatalogCluster]) -> Catalog {
    let mut clusters: Vec<&CatalogCluster> = clusters.iter().collect();
    clusters.sort_by(|a, b| a.alias.cmp(&b.alias));
    let mut tools = Vec::new();
    let mut routes = HashMap::new();
    let cluster_labels: HashMap<String, Label> = clusters
        .iter()
        .map(|c| (c.alias.clone(), Label::from(c.alias.as_str())))
        .collect();
    let other = Label::from(OTHER);
    // One shared label per tool name, however many clusters offer it.
    let mut tool_labels: HashMap<String, Label> = HashMap::new();
    let mut tool_label = |name: &str| -> Label {
        if let Some(l) = tool_labels.get(name) {
            return l.clone();
        }
        let l = Label::from(name);
        tool_labels.insert(name.to_owned(), l.clone());
        l
    };

    for (tool, which) in fleet_tools() {
        routes.insert(
            tool.name.to_string(),
            Route {
                target: Target::Fleet(which),
                mutating: !is_read_only(&tool),
                tool_label: tool_label(&tool.name),
                cluster_label: Label::from(FLEET),
            },
        );
        tools.push(tool);
    }

    if mode.namespaced() {
        for c in &clusters {
            let cluster_label = format!(
                "[cluster {} ({})] ",
                c.alias,
                safe_text(&c.cluster_name, 64)
            );
            for t in c.tools.iter() {
                let name = namespaced_name(&c.alias, &t.name);
                if !is_valid_tool_name(&name, MAX_EXPORTED_TOOL_NAME) || routes.contains_key(&name)
                {
                    tracing::warn!(cluster = %c.alias, tool = %t.name, "skipping a tool whose exported name collides");
                    continue;
                }
                let mut exported = t.clone();
                exported.name = name.clone().into();
                exported.description = Some(
                    format!("{cluster_label}{}", t.description.as_deref().unwrap_or("")).into(),
                );
                if let Some(title) = &t.title {
                    exported.title = Some(format!("{title} ({})", c.alias));
                }
                routes.insert(
                    name,
                    Route {
                        target: Target::Namespaced {
                            alias: c.alias.clone(),
                            tool: t.name.to_string(),
                        },
                        mutating: !is_read_only(t),
                        tool_label: tool_label(&t.name),
                        cluster_label: cluster_labels
                            .get(&c.alias)
                            .cloned()
                            .unwrap_or_else(|| other.clone()),
                    },
                );
                tools.push(exported);
            }
        }
    }

    // Plain-named operations: compact mode exports all of them; namespaced mode only the
    // VM-targeted actions, routed by VM. One name stands for the tool on every cluster that
    // offers it, so no single cluster decides what it is: the definition most clusters share
    // is shown, and its annotations are the most dangerous any cluster declares.
    let mut ops: BTreeMap<&str, Vec<(&CatalogCluster, &Tool)>> = BTreeMap::new();
    for c in &clusters {
        for t in c.tools.iter() {
            ops.entry(t.name.as_ref()).or_default().push((c, t));
        }
    }
    for (name, offers) in ops {
        let Some(merged) = merge_offers(&offers) else {
            continue;
        };
        let vm = merged.takes_vm;
        let wanted = mode.compact() || (vm && merged.mutating);
        if !wanted || routes.contains_key(name) {
            continue;
        }
        let live: Vec<String> = offers
            .iter()
            .filter(|(c, _)| c.health == Health::Up)
            .map(|(c, _)| c.alias.clone())
            .collect();
        let aliases = if live.is_empty() {
            offers.iter().map(|(c, _)| c.alias.clone()).collect()
        } else {
            live
        };
        let tool = merged.base;
        let mut exported = tool.clone();
        exported.annotations = Some(merged.annotations);
        exported.input_schema = Arc::new(with_cluster_arg(&tool.input_schema, &aliases, !vm));
        let how = if vm {
            "Runs on the cluster that owns `vm` (a VM uuid or `alias/vm-name`), or on `cluster`."
        } else {
            "Runs on the cluster named by `cluster`."
        };
        exported.description =
            Some(format!("{} {how}", tool.description.as_deref().unwrap_or("")).into());
        routes.insert(
            name.to_owned(),
            Route {
                target: Target::Plain {
                    tool: name.to_owned(),
                    takes_vm: vm,
                },
                mutating: merged.mutating,
                tool_label: tool_label(name),
                cluster_label: other.clone(),
            },
        );
        tools.push(exported);
    }

    Catalog {
        tools: Arc::new(tools),
        read_only: OnceLock::new(),
        routes,
        pages: Default::default(),
        cluster_labels,
        mode: ModeNote {
            active: mode,
            why: format!("--tools {mode}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::ToolAnnotations;

    fn object(v: Value) -> Arc<JsonObject> {
        Arc::new(v.as_object().cloned().unwrap_or_default())
    }

    fn tool(name: &str, read_only: bool, vm: bool) -> Tool {
        let props = if vm {
            json!({"vm": {"type": "string"}})
        } else {
            json!({})
        };
        Tool::new(
            name.to_owned(),
            "does things",
            object(json!({"type": "object", "properties": props})),
        )
        .with_annotations(ToolAnnotations::from_raw(
            None,
            Some(read_only),
            Some(false),
            Some(false),
            Some(true),
        ))
    }

    fn view(alias: &str, health: Health) -> CatalogCluster {
        CatalogCluster {
            alias: alias.into(),
            cluster_name: format!("Cluster {alias}"),
            health,
            tools: Arc::new(vec![
                tool("vm_list", true, false),
                tool("vm_start", false, true),
                tool("vm_get", true, true),
            ]),
        }
    }

    #[test]
    fn long_names_are_shortened_deterministically() {
        let n = namespaced_name("a-very-long-clus", "a_tool_name_that_is_thirty_two_c");
        assert!(n.len() <= 48, "{n}");
        assert!(is_valid_tool_name(&n, 48));
        assert_eq!(
            n,
            namespaced_name("a-very-long-clus", "a_tool_name_that_is_thirty_two_c")
        );
        assert_ne!(
            n,
            namespaced_name("a-very-long-clus", "a_tool_name_that_is_thirty_two_d")
        );
        assert_eq!(namespaced_name("dc1", "vm_list"), "dc1__vm_list");
    }

    #[test]
    fn namespaced_mode_exports_every_tool_plus_routed_actions() {
        let c = build(
            ToolsMode::Namespaced,
            &[view("dc1", Health::Up), view("edge", Health::Down)],
        );
        let names: Vec<&str> = c.tools.iter().map(|t| t.name.as_ref()).collect();
        for n in ["dc1__vm_list", "edge__vm_start", "vm_start", "fleet_status"] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
        assert!(!names.contains(&"vm_list"));
        assert!(!names.contains(&"vm_get"));
        let read: Vec<&str> = c
            .visible(Scope::Read)
            .iter()
            .map(|t| t.name.as_ref())
            .collect();
        assert!(read.contains(&"dc1__vm_list") && read.contains(&"fleet_status"));
        assert!(!read.contains(&"vm_start") && !read.contains(&"edge__vm_start"));
        assert_eq!(c.visible(Scope::Operate).len(), c.tools.len());
        let start = c.tools.iter().find(|t| t.name == "vm_start").unwrap();
        let cluster = &start.input_schema["properties"]["cluster"];
        assert_eq!(cluster["enum"], json!(["dc1"]));
        assert!(start.input_schema.get("required").is_none());
    }

    #[test]
    fn compact_mode_requires_cluster_for_non_vm_tools() {
        let c = build(ToolsMode::Compact, &[view("dc1", Health::Up)]);
        assert_eq!(c.tools.len(), 7 + 3);
        // The hub's own tools are in every mode; the placement changes need scope operate.
        for mode in [ToolsMode::Compact, ToolsMode::Namespaced, ToolsMode::Both] {
            let c = build(mode, &[view("dc1", Health::Up)]);
            for n in ["placement_ask", "placement_select", "vm_place", "vm_move"] {
                assert!(c.routes.contains_key(n), "{n} missing in {mode}");
            }
            let read: Vec<&str> = c
                .visible(Scope::Read)
                .iter()
                .map(|t| t.name.as_ref())
                .collect();
            assert!(read.contains(&"placement_select") && !read.contains(&"vm_place"));
            assert!(c.routes["vm_move"].mutating && !c.routes["placement_ask"].mutating);
        }
        let list = c.tools.iter().find(|t| t.name == "vm_list").unwrap();
        assert_eq!(list.input_schema["required"], json!(["cluster"]));
        assert!(!c.routes.contains_key("dc1__vm_list"));
    }

    #[test]
    fn a_lying_cluster_does_not_decide_for_others() {
        let mut liar = view("a0", Health::Down);
        liar.tools = Arc::new(vec![
            tool("vm_start", true, false),
            tool("power_cycle", true, false),
        ]);
        let mut honest = view("c1", Health::Up);
        honest.tools = Arc::new(vec![
            tool("vm_start", false, true),
            tool("power_cycle", false, false),
        ]);
        // Namespaced: the routed vm_start stays exported (and mutating) despite the liar.
        let c = build(ToolsMode::Namespaced, &[liar.clone(), honest.clone()]);
        assert!(c.routes.get("vm_start").is_some_and(|r| r.mutating));
        // Compact: both shared tools are mutating, annotated so, and hidden from read.
        let c = build(ToolsMode::Compact, &[liar, honest]);
        for n in ["vm_start", "power_cycle"] {
            assert!(c.routes[n].mutating, "{n}");
            let t = c.tools.iter().find(|t| t.name == n).unwrap();
            assert_eq!(t.annotations.as_ref().unwrap().read_only_hint, Some(false));
            assert!(!c.visible(Scope::Read).iter().any(|t| t.name == n));
        }
    }
}
