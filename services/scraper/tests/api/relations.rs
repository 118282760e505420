//! People and relations: the roles the Transform derives, and the people, related
//! and graph routes, against a registry whose people and ownerships are known by hand
//! (`people_registry`), and against the demo site for re-transforms.

use std::sync::{Arc, Mutex};

use gleaner_scraper::names::{name_key, person_id};
use gleaner_scraper::source::SourceName;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::people_registry::*;

fn pid(name: &str) -> String {
    person_id(name).expect("a name")
}

/// The scraper with the registry as its source, and the served firms.
async fn registry_app() -> (TestApp, Firms, String) {
    let firms: Firms = Arc::new(Mutex::new(firms()));
    let url = serve(firms.clone()).await;
    let app = spawn_app_with(
        0,
        |p| p.with_source(SourceName::Openmoney, Arc::new(PeopleRegistry)),
        None,
    )
    .await;
    (app, firms, url)
}

async fn crawl(app: &TestApp, url: &str) {
    let run = app.scrape(&spec(url)).await;
    assert_eq!(run.status, "succeeded", "{run:?}");
    assert_eq!(run.pages_failed, 0, "{run:?}");
}

/// Every row of `people` and `company_roles`, in key order, times included.
async fn dump(app: &TestApp) -> (Value, Value) {
    let people: Value = sqlx::query_scalar(
        "SELECT coalesce(json_agg(p ORDER BY p.id), '[]') FROM (SELECT id, name, name_key, search::text AS search FROM people) p",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let roles: Value = sqlx::query_scalar(
        "SELECT coalesce(json_agg(r ORDER BY r.idno, r.role, r.holder_kind, r.holder_key), '[]') FROM company_roles r",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    (people, roles)
}

/// `(relation, person_id)` of every tie to `idno` in a related page.
fn ties(page: &Value, idno: &str) -> Vec<(String, Option<String>)> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["idno"] == idno)
        .flat_map(|i| i["via"].as_array().unwrap().iter())
        .map(|v| {
            (
                v["relation"].as_str().unwrap().to_owned(),
                v["person_id"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn idnos(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["idno"].as_str().unwrap())
        .collect()
}

fn node_ids(graph: &Value) -> Vec<&str> {
    graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect()
}

fn edges(graph: &Value) -> Vec<(String, String, String, Value)> {
    graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["from"].as_str().unwrap().to_owned(),
                e["to"].as_str().unwrap().to_owned(),
                e["kind"].as_str().unwrap().to_owned(),
                e["share"].clone(),
            )
        })
        .collect()
}

fn c(idno: &str) -> String {
    format!("company:{idno}")
}

fn p(name: &str) -> String {
    format!("person:{}", pid(name))
}

#[tokio::test]
async fn people_roles_related_and_graph_of_a_known_registry() {
    let (app, _firms, url) = registry_app().await;
    crawl(&app, &url).await;
    let turcan = pid("Stefan Turcan");
    let bivol = pid("Doina Bivol");
    let popescu = pid("Ion Popescu");

    // Every spelling of a person is one person: comma and cedilla letters, no
    // diacritics, capitals, swapped words, extra spaces.
    assert_eq!(
        app.count("SELECT count(*) FROM people").await,
        5,
        "Țurcan, Bivol, Popescu, Ciobanu, Munteanu"
    );
    for q in [
        "stefan turcan",
        "ȚURCAN ȘTEFAN",
        "Ţurcan Ştefan",
        "turc",
        "  Stefan   Turcan ",
    ] {
        let page = app
            .get_json(&format!("/api/v1/people?q={}", urlencode(q)))
            .await;
        assert_eq!(page["items"][0]["id"], turcan.as_str(), "{q}: {page}");
        assert_eq!(page["total"], 1, "{q}");
        assert_eq!(page["items"][0]["companies"], 2, "{q}");
    }
    let page = app.get_json("/api/v1/people?q=doina%20bivol").await;
    assert_eq!(page["items"][0]["id"], bivol.as_str());
    let spelling = page["items"][0]["name"].as_str().unwrap();
    assert!(
        ["Doina Bivol", "Bivol Doina"].contains(&spelling),
        "a spelling seen: {spelling}"
    );
    let all = app.get_json("/api/v1/people?per_page=100").await;
    assert_eq!(all["total"], 5);
    let founders = app.get_json("/api/v1/people?role=founder").await;
    assert_eq!(founders["total"], 5, "{founders}");
    let admins = app.get_json("/api/v1/people?role=administrator").await;
    let mut admin_ids: Vec<&str> = admins["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    admin_ids.sort_unstable();
    let munteanu = pid("Elena Munteanu");
    let mut want = vec![
        turcan.as_str(),
        bivol.as_str(),
        popescu.as_str(),
        munteanu.as_str(),
    ];
    want.sort_unstable();
    assert_eq!(admin_ids, want);
    let nobody = app.get_json("/api/v1/people?q=zzzz").await;
    assert_eq!(
        (nobody["total"].clone(), nobody["items"].clone()),
        (json!(0), json!([]))
    );

    // A person with every role, first-run roles with no `since`.
    let person = app.get_json(&format!("/api/v1/people/{turcan}")).await;
    assert_eq!(person["id"], turcan.as_str());
    let mut roles: Vec<(String, String, Value, Value, bool)> = person["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["since"], Value::Null, "{r}");
            assert_eq!(r["until"], Value::Null, "{r}");
            (
                r["idno"].as_str().unwrap().to_owned(),
                r["role"].as_str().unwrap().to_owned(),
                r["share"].clone(),
                r["function"].clone(),
                r["current"].as_bool().unwrap(),
            )
        })
        .collect();
    roles.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    assert_eq!(
        roles,
        [
            (
                LIVADA.into(),
                "administrator".into(),
                Value::Null,
                json!("Director"),
                true
            ),
            (
                LIVADA.into(),
                "founder".into(),
                json!(60.0),
                Value::Null,
                true
            ),
            (
                MOARA.into(),
                "founder".into(),
                json!(50.0),
                Value::Null,
                true
            ),
        ]
    );
    assert_eq!(person["roles"][0]["company_name"], "Livada Nord SRL");

    // Related: through people, and through founding companies by IDNO or by unique name.
    let livada = app
        .get_json(&format!("/api/v1/companies/{LIVADA}/related"))
        .await;
    assert_eq!(idnos(&livada), [MOARA], "{livada}");
    assert_eq!(livada["total"], 1);
    assert_eq!(livada["items"][0]["name"], "Moara Veche SA");
    assert_eq!(
        ties(&livada, MOARA),
        [
            ("owns".to_owned(), None),
            ("shared_person".to_owned(), Some(bivol.clone())),
            ("shared_person".to_owned(), Some(turcan.clone())),
        ]
    );
    assert!(livada["items"][0]["via"][1]["person_name"].is_string());
    assert!(livada["items"][0]["via"][0].get("person_id").is_none());
    let moara = app
        .get_json(&format!("/api/v1/companies/{MOARA}/related"))
        .await;
    assert_eq!(idnos(&moara), [LIVADA, POD], "{moara}");
    assert_eq!(ties(&moara, LIVADA)[0], ("owned_by".to_owned(), None));
    assert_eq!(ties(&moara, POD), [("owns".to_owned(), None)]);
    let pod = app
        .get_json(&format!("/api/v1/companies/{POD}/related"))
        .await;
    assert_eq!(idnos(&pod), [MOARA, VINARIA], "{pod}");
    assert_eq!(ties(&pod, MOARA), [("owned_by".to_owned(), None)]);
    assert_eq!(
        ties(&pod, VINARIA),
        [("shared_person".to_owned(), Some(popescu.clone()))]
    );
    // Two companies named `Ferma Verde SRL`: Crama's founder of that name links to neither.
    let crama = app
        .get_json(&format!("/api/v1/companies/{CRAMA}/related"))
        .await;
    assert_eq!(idnos(&crama), [FERMA_2, OUTSIDE], "{crama}");
    assert_eq!(
        ties(&crama, FERMA_2),
        [("shared_person".to_owned(), Some(pid("Elena Munteanu")))]
    );
    assert_eq!(ties(&crama, OUTSIDE), [("owned_by".to_owned(), None)]);
    assert_eq!(crama["items"][1]["name"], "Vinexport SA");
    let paged = app
        .get_json(&format!(
            "/api/v1/companies/{MOARA}/related?page=2&per_page=1"
        ))
        .await;
    assert_eq!(idnos(&paged), [POD]);
    assert_eq!(
        (paged["total"].clone(), paged["page"].clone()),
        (json!(2), json!(2))
    );
    let past = app
        .get_json(&format!("/api/v1/companies/{MOARA}/related?page=9"))
        .await;
    assert_eq!(
        (past["total"].clone(), past["items"].clone()),
        (json!(2), json!([]))
    );

    // The graph, depth 1: the holders of Pod de Piatră (not the unmatched founder).
    let g = app
        .get_json(&format!("/api/v1/companies/{POD}/graph"))
        .await;
    assert_eq!(node_ids(&g), [c(POD), c(MOARA), p("Ion Popescu")], "{g}");
    assert_eq!(g["nodes"][0]["kind"], "company");
    assert_eq!(g["nodes"][0]["label"], "Pod de Piatră SRL");
    assert_eq!(g["nodes"][2]["kind"], "person");
    assert_eq!(g["nodes"][2]["label"], "Ion Popescu");
    assert_eq!(g["truncated"], false);
    assert_eq!(
        edges(&g),
        [
            (c(MOARA), c(POD), "founder".into(), json!(70.0)),
            (
                p("Ion Popescu"),
                c(POD),
                "administrator".into(),
                Value::Null
            ),
        ]
    );
    // Depth 2: every role between the nodes, the managing company's too.
    let g = app
        .get_json(&format!("/api/v1/companies/{POD}/graph?depth=2"))
        .await;
    let mut nodes = node_ids(&g);
    nodes.sort_unstable();
    let mut want = vec![
        c(POD),
        c(MOARA),
        c(LIVADA),
        c(VINARIA),
        p("Ion Popescu"),
        p("Stefan Turcan"),
        p("Doina Bivol"),
    ];
    want.sort_unstable();
    assert_eq!(nodes, want, "{g}");
    let mut got = edges(&g);
    got.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
    let mut want = vec![
        (c(LIVADA), c(MOARA), "founder".into(), json!(50.0)),
        (c(LIVADA), c(VINARIA), "administrator".into(), Value::Null),
        (c(MOARA), c(POD), "founder".into(), json!(70.0)),
        (
            p("Ion Popescu"),
            c(POD),
            "administrator".into(),
            Value::Null,
        ),
        (p("Ion Popescu"), c(VINARIA), "founder".into(), json!(100.0)),
        (
            p("Stefan Turcan"),
            c(LIVADA),
            "administrator".into(),
            Value::Null,
        ),
        (p("Stefan Turcan"), c(LIVADA), "founder".into(), json!(60.0)),
        (p("Stefan Turcan"), c(MOARA), "founder".into(), json!(50.0)),
        (p("Doina Bivol"), c(LIVADA), "founder".into(), json!(40.0)),
        (
            p("Doina Bivol"),
            c(MOARA),
            "administrator".into(),
            Value::Null,
        ),
    ];
    want.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
    assert_eq!(got, want);
    assert_eq!(g["truncated"], false);
    // Depth 3 finds nothing more in this group of companies.
    let g3 = app
        .get_json(&format!("/api/v1/companies/{POD}/graph?depth=3"))
        .await;
    assert_eq!(g3["nodes"].as_array().unwrap().len(), 7, "{g3}");
    assert_eq!(g3["truncated"], false);
    let g = app
        .get_json(&format!("/api/v1/companies/{POD}/graph?depth=2&limit=4"))
        .await;
    assert_eq!(
        node_ids(&g),
        [c(POD), c(MOARA), p("Ion Popescu"), c(LIVADA)],
        "breadth first, by id within a level: {g}"
    );
    assert_eq!(g["truncated"], true);
    for e in edges(&g) {
        assert!(node_ids(&g).contains(&e.0.as_str()), "{e:?}");
    }
    let g = app
        .get_json(&format!("/api/v1/companies/{POD}/graph?limit=1"))
        .await;
    assert_eq!(node_ids(&g), [c(POD)]);
    assert_eq!(
        (g["truncated"].clone(), g["edges"].clone()),
        (json!(true), json!([]))
    );
    // A founding company outside the registry is a node labelled as the role names it;
    // an unmatched one is none.
    let g = app
        .get_json(&format!("/api/v1/companies/{CRAMA}/graph"))
        .await;
    assert_eq!(
        node_ids(&g),
        [c(CRAMA), c(OUTSIDE), p("Elena Munteanu")],
        "{g}"
    );
    assert_eq!(g["nodes"][1]["label"], "Vinexport SA");
}

#[tokio::test]
async fn roles_that_end_between_runs_and_come_back() {
    let (app, firms, url) = registry_app().await;
    crawl(&app, &url).await;
    let bivol = pid("Doina Bivol");
    let rusu = pid("Ana Rusu");

    // Doina Bivol leaves both companies; Ana Rusu takes over at Moara Veche, and the
    // director of Livada Nord becomes its general director.
    {
        let mut f = firms.lock().unwrap();
        let livada = f.get_mut(LIVADA).unwrap();
        livada["owners"] = json!([{"who": "Ștefan Țurcan", "person": true, "pct": 100.0}]);
        livada["managers"] = json!([{"who": "Stefan Turcan", "title": "Director general"}]);
        let moara = f.get_mut(MOARA).unwrap();
        moara["managers"] = json!([{"who": "Ana Rusu", "title": "Administrator"}]);
    }
    crawl(&app, &url).await;
    let person = app.get_json(&format!("/api/v1/people/{bivol}")).await;
    let roles = person["roles"].as_array().unwrap();
    assert_eq!(roles.len(), 2, "{person}");
    for r in roles {
        assert_eq!(r["current"], false, "{r}");
        assert!(r["until"].is_string(), "{r}");
        assert_eq!(r["since"], Value::Null, "{r}");
    }
    let people = app.get_json("/api/v1/people?q=bivol").await;
    assert_eq!(people["items"][0]["companies"], 2, "roles ever held count");
    let rusu_roles = app.get_json(&format!("/api/v1/people/{rusu}")).await;
    assert_eq!(rusu_roles["roles"][0]["idno"], MOARA);
    assert_eq!(rusu_roles["roles"][0]["current"], true);
    assert!(rusu_roles["roles"][0]["since"].is_string(), "{rusu_roles}");
    let turcan = app
        .get_json(&format!("/api/v1/people/{}", pid("Stefan Turcan")))
        .await;
    let admin = turcan["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["idno"] == LIVADA && r["role"] == "administrator")
        .unwrap();
    assert_eq!(admin["function"], "Director general");
    assert_eq!(admin["since"], Value::Null, "the same role, retitled");
    let founder = turcan["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["idno"] == LIVADA && r["role"] == "founder")
        .unwrap();
    assert_eq!(founder["share"], 100.0);
    // Ended roles tie nothing any more.
    let livada = app
        .get_json(&format!("/api/v1/companies/{LIVADA}/related"))
        .await;
    assert_eq!(
        ties(&livada, MOARA),
        [
            ("owns".to_owned(), None),
            ("shared_person".to_owned(), Some(pid("Stefan Turcan"))),
        ]
    );
    // What the company shows and what its roles say agree.
    let company = app.get_json(&format!("/api/v1/companies/{MOARA}")).await;
    assert_eq!(company["administrators"][0]["name"], "Ana Rusu");

    // She comes back to Livada Nord: current again, from now.
    {
        let mut f = firms.lock().unwrap();
        let livada = f.get_mut(LIVADA).unwrap();
        livada["owners"] = json!([
            {"who": "Ștefan Țurcan", "person": true, "pct": 60.0},
            {"who": "DOINA BIVOL", "person": true, "pct": 40.0}
        ]);
    }
    crawl(&app, &url).await;
    let person = app.get_json(&format!("/api/v1/people/{bivol}")).await;
    let back = person["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["idno"] == LIVADA)
        .unwrap();
    assert_eq!(back["current"], true, "{person}");
    assert!(back["since"].is_string(), "{back}");
    assert_eq!(back["until"], Value::Null);
    assert_eq!(back["share"], 40.0);
    assert_eq!(person["name"], "DOINA BIVOL", "the spelling last seen");
    let gone = person["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["idno"] == MOARA)
        .unwrap();
    assert_eq!(gone["current"], false);

    // A run that sees nothing new writes no role.
    let before = dump(&app).await;
    crawl(&app, &url).await;
    assert_eq!(dump(&app).await, before);
}

#[tokio::test]
async fn a_retransform_gives_the_same_people_and_roles() {
    let app = spawn_app(60).await;
    let run = app.scrape(&app.spec()).await;
    assert_eq!(run.status, "succeeded", "{run:?}");
    let first = dump(&app).await;
    assert!(first.0.as_array().unwrap().len() > 20, "{}", first.0);
    // Every founder and administrator the company shows is a role, under its person id.
    let companies: Vec<String> = sqlx::query_scalar("SELECT idno FROM companies")
        .fetch_all(&app.db)
        .await
        .unwrap();
    let mut expected_roles = 0;
    for idno in &companies {
        let company = app.get_json(&format!("/api/v1/companies/{idno}")).await;
        let mut keys = std::collections::BTreeSet::new();
        for (list, role) in [("founders", "founder"), ("administrators", "administrator")] {
            for h in company[list].as_array().unwrap() {
                let name = h["name"].as_str().unwrap();
                if h["kind"] == "company" {
                    let key = h["idno"]
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| name_key(name));
                    keys.insert((role, "company", key));
                    continue;
                }
                let id = pid(name);
                keys.insert((role, "person", id.clone()));
                let n = app
                    .count(&format!(
                        "SELECT count(*) FROM company_roles WHERE idno = '{idno}' AND role = '{role}' \
                         AND person_id = '{id}' AND current"
                    ))
                    .await;
                assert_eq!(n, 1, "{idno} {role} {h}");
            }
        }
        expected_roles += keys.len() as i64;
    }
    assert_eq!(
        app.count("SELECT count(*) FROM company_roles WHERE current")
            .await,
        expected_roles
    );

    // The same documents again: nothing moves.
    let summary = app
        .state
        .pipeline
        .retransform(uuid::Uuid::new_v4(), SourceName::Openmoney, None, None)
        .await
        .unwrap();
    assert_eq!(summary.status, "succeeded", "{summary:?}");
    assert_eq!(
        dump(&app).await,
        first,
        "a re-transform changes no person and no role"
    );

    // Companies written before roles were kept: a re-transform fills them in, with the
    // same ids, and links founders by name again.
    sqlx::query("DELETE FROM company_roles")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("DELETE FROM people")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("UPDATE company_search SET name_norm = NULL")
        .execute(&app.db)
        .await
        .unwrap();
    let summary = app
        .state
        .pipeline
        .retransform(uuid::Uuid::new_v4(), SourceName::Openmoney, None, None)
        .await
        .unwrap();
    assert_eq!(summary.status, "succeeded", "{summary:?}");
    assert_eq!(
        (summary.companies_created, summary.companies_updated),
        (0, 0)
    );
    // The spelling a person shows is the one last seen, which depends on the order
    // documents are read in; everything else is the same.
    let without_names = |(people, roles): (Value, Value)| {
        let mut people = people;
        for p in people.as_array_mut().unwrap() {
            p.as_object_mut().unwrap().remove("name");
        }
        (people, roles)
    };
    assert_eq!(
        without_names(dump(&app).await),
        without_names(first),
        "rebuilt from the raw documents"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM company_search WHERE name_norm IS NULL")
            .await,
        0
    );
}

#[tokio::test]
async fn the_demo_sites_people_and_company_links_match_its_ground_truth() {
    let app = spawn_app(150).await;
    let spec: gleaner_scraper::spec::RunSpec = serde_json::from_value(json!({
        "baseUrl": app.site.url(), "apiUrl": app.site.url(),
        "targets": {"listPages": {"from": 1, "to": 2}},
        "concurrency": 8, "requestsPerSecond": 100, "maxRetries": 3,
        "timeoutSeconds": 120, "respectRobotsTxt": true
    }))
    .unwrap();
    let run = app.scrape(&spec).await;
    assert_eq!(run.status, "succeeded", "{run:?}");
    let companies = app.site.control().companies();
    assert_eq!(app.count("SELECT count(*) FROM companies").await, 150);

    // Every person: one id for every spelling, exactly their roles.
    let people = gleaner_demo_site::expected_people(&companies);
    assert!(
        people
            .values()
            .any(|p| p.companies().len() > 1 && p.names.len() > 1),
        "the site has people in several companies under several spellings"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM people").await,
        people.len() as i64
    );
    for (key, expected) in &people {
        let spelling = expected.names.iter().next().unwrap();
        let id = pid(spelling);
        for name in &expected.names {
            assert_eq!(pid(name), id, "{key}: {name}");
        }
        let got = app.get_json(&format!("/api/v1/people/{id}")).await;
        let mut roles: Vec<(String, String, Value, Value)> = got["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                assert_eq!(r["current"], true, "{r}");
                (
                    r["idno"].as_str().unwrap().to_owned(),
                    r["role"].as_str().unwrap().to_owned(),
                    r["share"].clone(),
                    r["function"].clone(),
                )
            })
            .collect();
        roles.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        let mut want: Vec<(String, String, Value, Value)> = expected
            .roles
            .iter()
            .map(|r| {
                (
                    r.idno.clone(),
                    r.role.as_str().to_owned(),
                    json!(r.share),
                    json!(r.function.as_deref().map(display)),
                )
            })
            .collect();
        want.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        want.dedup_by(|a, b| (&a.0, &a.1) == (&b.0, &b.1));
        assert_eq!(roles, want, "{key}");
        let listed = app
            .get_json(&format!("/api/v1/people?q={}", urlencode(spelling)))
            .await;
        let hit = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{spelling} not found: {listed}"));
        assert_eq!(hit["companies"], expected.companies().len(), "{key}");
    }

    // Every company founding or running another resolves as the site says: by IDNO,
    // else by a name exactly one company has, else not at all.
    let links = gleaner_demo_site::expected_links(&companies);
    assert!(
        links
            .iter()
            .any(|(l, t)| l.holder_idno.is_none() && t.is_some())
    );
    assert!(
        links
            .iter()
            .any(|(l, t)| l.holder_idno.is_some() && t.is_some())
    );
    for (link, target) in &links {
        let key = link
            .holder_idno
            .clone()
            .unwrap_or_else(|| name_key(&link.name));
        let resolved: Vec<Option<String>> = sqlx::query_scalar(
            "SELECT holder_company FROM company_roles_linked \
             WHERE idno = $1 AND role = $2 AND holder_kind = 'company' AND holder_key = $3",
        )
        .bind(&link.idno)
        .bind(link.role.as_str())
        .bind(&key)
        .fetch_all(&app.db)
        .await
        .unwrap();
        assert_eq!(resolved, std::slice::from_ref(target), "{link:?}");
        if let (Some(t), gleaner_demo_site::Role::Founder) = (target, link.role)
            && t != &link.idno
        {
            let related = app
                .get_json(&format!(
                    "/api/v1/companies/{}/related?per_page=100",
                    link.idno
                ))
                .await;
            assert!(
                ties(&related, t).contains(&("owned_by".to_owned(), None)),
                "{link:?}: {related}"
            );
        }
    }
}

/// A title as shown: trimmed, runs of white space one space.
fn display(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn bad_input_is_404_or_422_never_5xx() {
    let (app, _firms, url) = registry_app().await;
    crawl(&app, &url).await;
    for path in [
        "/api/v1/people/zzz".to_owned(),
        "/api/v1/people/0123456789abcdef0123".to_owned(),
        format!("/api/v1/people/{}", pid("Ion Popescu").to_uppercase()),
        "/api/v1/people/%00".to_owned(),
        "/api/v1/companies/123/related".to_owned(),
        "/api/v1/companies/9999999999999/related".to_owned(),
        "/api/v1/companies/abc/graph".to_owned(),
        "/api/v1/companies/9999999999999/graph?depth=2".to_owned(),
    ] {
        let r = app.get(&path).await;
        assert_eq!(r.status(), 404, "{path}");
        let problem: Value = r.json().await.unwrap();
        assert_eq!(problem["status"], 404, "{path}");
    }
    let long = "a".repeat(501);
    for (path, field) in [
        (format!("/api/v1/companies/{POD}/graph?depth=0"), "depth"),
        (format!("/api/v1/companies/{POD}/graph?depth=4"), "depth"),
        (format!("/api/v1/companies/{POD}/graph?depth=x"), "depth"),
        (format!("/api/v1/companies/{POD}/graph?depth=-1"), "depth"),
        (format!("/api/v1/companies/{POD}/graph?limit=0"), "limit"),
        (format!("/api/v1/companies/{POD}/graph?limit=501"), "limit"),
        (
            format!("/api/v1/companies/{POD}/graph?limit=99999999999999999999"),
            "limit",
        ),
        (format!("/api/v1/companies/{POD}/graph?width=2"), "width"),
        (
            format!("/api/v1/companies/{POD}/related?per_page=101"),
            "per_page",
        ),
        (format!("/api/v1/companies/{POD}/related?page=0"), "page"),
        (format!("/api/v1/people?q={long}"), "q"),
        ("/api/v1/people?role=owner".to_owned(), "role"),
        ("/api/v1/people?per_page=0".to_owned(), "per_page"),
        ("/api/v1/people?q=a%00b".to_owned(), "q"),
    ] {
        let r = app.get(&path).await;
        assert_eq!(r.status(), 422, "{path}");
        let problem: Value = r.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], field, "{path}: {problem}");
    }
    // Exactly 500 characters is allowed; query syntax is only text.
    let r = app
        .get(&format!("/api/v1/people?q={}", "a".repeat(500)))
        .await;
    assert_eq!(r.status(), 200);
    // Words that fold to more than an index holds (`㌀` is four letters), hundreds of
    // words, and query syntax are all only text.
    let wide = "㌀".repeat(500);
    let many = "a ".repeat(250);
    for q in [
        wide.as_str(),
        many.as_str(),
        "!",
        "a:*",
        "' & |",
        "(",
        "<->",
        "\\",
        "ion & !popescu",
        "ș:*'",
    ] {
        let r = app.get(&format!("/api/v1/people?q={}", urlencode(q))).await;
        assert_eq!(r.status(), 200, "{q}");
    }
    let all = app.get_json("/api/v1/people?q=%20%2C%20").await;
    assert_eq!(all["total"], 5, "a query of no word lists everyone");

    // Every route and its schemas are described (schemathesis fuzzes what is).
    let spec: Value = app.get_json("/openapi.json").await;
    for path in [
        "/api/v1/people",
        "/api/v1/people/{id}",
        "/api/v1/companies/{idno}/related",
        "/api/v1/companies/{idno}/graph",
    ] {
        assert!(
            spec["paths"][path]["get"].is_object(),
            "{path} undocumented"
        );
    }
    for schema in [
        "PeoplePage",
        "Person",
        "RelatedCompany",
        "Graph",
        "Node",
        "Edge",
        "Via",
    ] {
        assert!(
            spec["components"]["schemas"][schema].is_object(),
            "{schema} undocumented"
        );
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
