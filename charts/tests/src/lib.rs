//! The Helm chart (charts/gleaner) as its tests see it: rendered by `helm` with a value set,
//! then read back as Kubernetes objects. The checks themselves are this crate's tests.

pub mod objects;
pub mod render;

pub use objects::{env_of, find, get, name_of, pod_of, schema_problems, set, typed};
pub use render::{
    VALUE_SETS, chart_dir, have_helm, helm, render, repo_root, try_render, yaml_docs, yaml_file,
};
