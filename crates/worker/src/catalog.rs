//! What a tool declares (name, title, model-facing description, input and output schemas, the
//! four annotations) and the catalog as served: the declarations filtered for read-only mode
//! and converted to rmcp tools once. Each tool declares itself in its own file under `tools/`.

use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};

/// One tool as the catalog declares it.
#[derive(Debug, Clone)]
pub struct ToolDef {
    /// Snake-case name, `^[a-z0-9_]{1,30}$`.
    pub name: &'static str,
    /// Human title.
    pub title: &'static str,
    /// What it does, when to use it, what it returns.
    pub description: String,
    /// JSON Schema of the arguments.
    pub input: JsonObject,
    /// JSON Schema of the structured result.
    pub output: JsonObject,
    /// Changes nothing.
    pub read_only: bool,
    /// Can destroy state or interrupt a guest; needs a confirmation token.
    pub destructive: bool,
    /// Repeating the call has no further effect.
    pub idempotent: bool,
    /// Talks to systems beyond the cluster.
    pub open_world: bool,
}

impl ToolDef {
    /// The rmcp `Tool` advertised in `tools/list`.
    pub fn to_tool(&self) -> Tool {
        Tool::new(
            self.name,
            self.description.clone(),
            Arc::new(self.input.clone()),
        )
        .with_title(self.title)
        .with_raw_output_schema(Arc::new(self.output.clone()))
        .with_annotations(
            ToolAnnotations::with_title(self.title)
                .read_only(self.read_only)
                .destructive(self.destructive)
                .idempotent(self.idempotent)
                .open_world(self.open_world),
        )
    }
}

/// The catalog as served: filtered for read-only mode, converted to rmcp tools once.
pub struct Catalog {
    defs: Vec<ToolDef>,
    tools: Arc<Vec<Tool>>,
}

impl Catalog {
    /// The served catalog: every declaration in `all` (in order), only the read-only ones in
    /// read-only mode.
    pub fn new(all: Vec<ToolDef>, read_only: bool) -> Self {
        let defs: Vec<ToolDef> = all
            .into_iter()
            .filter(|d| !read_only || d.read_only)
            .collect();
        let tools = Arc::new(defs.iter().map(ToolDef::to_tool).collect());
        Catalog { defs, tools }
    }

    /// The rmcp tools, built once.
    pub fn tools(&self) -> Arc<Vec<Tool>> {
        self.tools.clone()
    }

    /// The served definition of `name`.
    pub fn get(&self, name: &str) -> Option<&ToolDef> {
        self.defs.iter().find(|d| d.name == name)
    }

    /// All served definitions.
    pub fn defs(&self) -> &[ToolDef] {
        &self.defs
    }
}
