//! Transform throughput per core: JSON company documents and ~30 KB HTML
//! company pages from the demo site's generator, parsed into records.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gleaner_scraper::source::openmoney::parse::{
    parse_company_html, parse_company_json, parse_financials,
};

/// Raw documents of one kind.
type Docs = Vec<Vec<u8>>;

fn documents() -> (Docs, Docs, Docs) {
    let companies = gleaner_demo_site::generate(42, 200);
    let json = companies
        .iter()
        .map(|c| serde_json::to_vec(&gleaner_demo_site::api_company(c)).expect("json"))
        .collect();
    let html = companies
        .iter()
        .map(|c| gleaner_demo_site::html_company(c).into_bytes())
        .collect();
    let fin = companies
        .iter()
        .map(|c| serde_json::to_vec(&gleaner_demo_site::api_financials(c)).expect("json"))
        .collect();
    (json, html, fin)
}

fn transform(c: &mut Criterion) {
    let (json, html, fin) = documents();
    let html_kb = html.iter().map(Vec::len).sum::<usize>() as f64 / html.len() as f64 / 1024.0;
    eprintln!("average HTML page: {html_kb:.1} KB");
    let mut g = c.benchmark_group("transform");
    g.throughput(Throughput::Elements(json.len() as u64));
    g.bench_function("json_company_documents", |b| {
        b.iter(|| {
            for doc in &json {
                parse_company_json(doc).expect("parses");
            }
        })
    });
    g.throughput(Throughput::Elements(html.len() as u64));
    g.bench_function("html_company_pages", |b| {
        b.iter(|| {
            for doc in &html {
                parse_company_html(doc).expect("parses");
            }
        })
    });
    g.throughput(Throughput::Elements(fin.len() as u64));
    g.bench_function("json_financials_documents", |b| {
        b.iter(|| {
            for doc in &fin {
                parse_financials(doc).expect("parses");
            }
        })
    });
    g.finish();
}

criterion_group!(benches, transform);
criterion_main!(benches);
