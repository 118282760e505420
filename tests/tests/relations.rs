//! People and relations end to end, through the gateway only: an operator's job crawls
//! the demo site, where one person (spelled two ways) holds roles in two companies; an
//! anonymous user searches the person, lists their companies, finds the related
//! company, draws the graph, and reconciles a small batch of names.

use std::time::Duration;

use futures::StreamExt as _;
use gleaner_demo_site::DemoConfig;
use gleaner_e2e::Stack;
use gleaner_testkit::eventually;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// How long the crawl of the test's small site may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut builder = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(t) = token {
            builder = builder.bearer_auth(t);
        }
        if let Some(body) = body {
            builder = builder.json(&body);
        }
        let response = builder
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    async fn expect(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        want: StatusCode,
    ) -> Value {
        let (status, value) = self.send(method.clone(), path, token, body).await;
        assert_eq!(status, want, "{method} {path}: {value}");
        value
    }

    /// An anonymous GET that must answer 200.
    async fn get(&self, path: &str) -> Value {
        self.expect(Method::GET, path, None, None, StatusCode::OK)
            .await
    }
}

fn random_word() -> String {
    (0..8)
        .map(|_| char::from(b'a' + rand::random_range(0..26u8)))
        .collect()
}

#[tokio::test]
async fn a_person_their_companies_the_related_company_the_graph_and_reconciliation() {
    let stack = Stack::start(DemoConfig {
        seed: rand::random_range(1_000..u64::MAX / 2),
        companies: 12,
        ..DemoConfig::default()
    })
    .await
    .unwrap();
    let api = Api {
        base: stack.gateway.clone(),
        http: reqwest::Client::new(),
    };
    let demo = stack.demo.control();

    // One person no generated company has, founder of one company (comma-below
    // letters) and administrator of another (cedilla letters, surname first, capitals).
    let surname = format!("Zet{}escu", random_word());
    let founder_spelling = format!("Ștefan {surname}");
    let admin_spelling = format!("{} Ştefan", surname.to_uppercase());
    let companies = demo.companies();
    let mut holders = companies
        .iter()
        .filter(|c| !c.person_founders.is_empty() && !c.person_administrators.is_empty());
    let first = holders.next().expect("a company with founders").clone();
    let second = holders
        .next()
        .expect("another company with founders")
        .clone();
    assert!(demo.mutate(&first.idno, |c| {
        c.person_founders[0].full_name = founder_spelling.clone();
    }));
    assert!(demo.mutate(&second.idno, |c| {
        c.person_administrators[0].full_name = admin_spelling.clone();
    }));

    // The operator's job crawls the site once.
    let admin = api
        .expect(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": stack.admin.0, "password": stack.admin.1})),
            StatusCode::OK,
        )
        .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let job = format!("e2e-relations-{}", random_word());
    let site = stack.demo.url();
    api.expect(
        Method::POST,
        "/api/v1/scrape-jobs",
        Some(&admin),
        Some(json!({"name": job, "spec": {
            "baseUrl": site, "apiUrl": site,
            "targets": {"listPages": {"from": 1, "to": 1}},
            "concurrency": 4, "requestsPerSecond": 100, "maxRetries": 1,
            "respectRobotsTxt": false
        }})),
        StatusCode::CREATED,
    )
    .await;
    let run_id = eventually(Duration::from_secs(30), || {
        let (api, admin, job) = (&api, &admin, &job);
        async move {
            let (_, runs) = api
                .send(
                    Method::GET,
                    &format!("/api/v1/scrape-runs?job={job}"),
                    Some(admin),
                    None,
                )
                .await;
            runs["items"][0]["id"].as_str().map(str::to_owned)
        }
    })
    .await
    .expect("the job's first run");
    let events = api
        .http
        .get(format!("{}/api/v1/scrape-runs/{run_id}/events", api.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    let mut stream = events.bytes_stream();
    let followed = tokio::time::timeout(RUN_TIMEOUT, async {
        while let Some(chunk) = stream.next().await {
            if chunk.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(
        followed.is_ok(),
        "run {run_id} still running after {RUN_TIMEOUT:?}"
    );
    let run = api
        .expect(
            Method::GET,
            &format!("/api/v1/scrape-runs/{run_id}"),
            Some(&admin),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");

    // Search the person, word order, case and accents aside: one person, two companies.
    let q = format!("{} stefan", surname.to_lowercase());
    let found = api.get(&format!("/api/v1/people?q={q}")).await;
    assert_eq!(found["total"], 1, "{found}");
    let person = &found["items"][0];
    assert_eq!(person["companies"], 2, "{person}");
    let id = person["id"].as_str().unwrap().to_owned();
    let by_role = api
        .get(&format!("/api/v1/people?q={q}&role=administrator"))
        .await;
    assert_eq!(by_role["items"][0]["id"], id.as_str());

    // Their companies.
    let detail = api.get(&format!("/api/v1/people/{id}")).await;
    let mut roles: Vec<(String, String, bool)> = detail["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["idno"].as_str().unwrap().to_owned(),
                r["role"].as_str().unwrap().to_owned(),
                r["current"].as_bool().unwrap(),
            )
        })
        .collect();
    roles.sort();
    let mut want = vec![
        (first.idno.clone(), "founder".to_owned(), true),
        (second.idno.clone(), "administrator".to_owned(), true),
    ];
    want.sort();
    assert_eq!(roles, want, "{detail}");

    // The related company, through them.
    let related = api
        .get(&format!(
            "/api/v1/companies/{}/related?per_page=100",
            first.idno
        ))
        .await;
    let tie = related["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["idno"] == second.idno.as_str())
        .unwrap_or_else(|| panic!("{} related to {}: {related}", second.idno, first.idno));
    assert!(
        tie["via"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["relation"] == "shared_person" && v["person_id"] == id.as_str()),
        "{tie}"
    );
    let company = api.get(&format!("/api/v1/companies/{}", second.idno)).await;
    assert_eq!(tie["name"], company["name"]);

    // The graph around the second company reaches the first through the person.
    let graph = api
        .get(&format!("/api/v1/companies/{}/graph?depth=2", second.idno))
        .await;
    let nodes: Vec<&str> = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    let person_node = format!("person:{id}");
    let first_node = format!("company:{}", first.idno);
    let second_node = format!("company:{}", second.idno);
    assert_eq!(nodes[0], second_node, "{graph}");
    assert!(nodes.contains(&person_node.as_str()), "{graph}");
    assert!(nodes.contains(&first_node.as_str()), "{graph}");
    let edges: Vec<(&str, &str, &str)> = graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["from"].as_str().unwrap(),
                e["to"].as_str().unwrap(),
                e["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(edges.contains(&(person_node.as_str(), first_node.as_str(), "founder")));
    assert!(edges.contains(&(person_node.as_str(), second_node.as_str(), "administrator")));
    api.expect(
        Method::GET,
        &format!("/api/v1/companies/{}/graph?depth=4", second.idno),
        None,
        None,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    // Reconciliation of a small batch: the person with a wrong accent, a company by IDNO,
    // a company by name.
    let batch = api
        .expect(
            Method::POST,
            "/api/v1/reconcile",
            None,
            Some(json!({"queries": {
                "q0": {"query": format!("Ștefăn {surname}"), "type": "Person"},
                "q1": {"query": "anything", "properties": [{"pid": "idno", "v": first.idno}]},
                "q2": {"query": company["name"], "type": "Company"},
            }})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(batch["q0"]["result"][0]["id"], id.as_str(), "{batch}");
    assert_eq!(
        batch["q1"]["result"][0]["id"],
        first.idno.as_str(),
        "{batch}"
    );
    assert_eq!(batch["q1"]["result"][0]["match"], true, "{batch}");
    assert_eq!(
        batch["q2"]["result"][0]["id"],
        second.idno.as_str(),
        "{batch}"
    );
}
