//! Prints the ScrapeJob CustomResourceDefinition as YAML (same as `operator crdgen`).

fn main() -> anyhow::Result<()> {
    print!("{}", gleaner_operator::crd::crd_yaml()?);
    Ok(())
}
