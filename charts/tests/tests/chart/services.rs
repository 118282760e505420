//! The services' settings, ports and probes; migrations in hooks; the databases in the
//! chart or outside it, from Secrets; Redis for sharded runs where they run.

use gleaner_chart_tests::{env_of, find, get, have_helm, render, try_render, typed};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;

#[test]
fn services_get_their_settings_ports_and_probes() {
    if !have_helm() {
        return;
    }
    let docs = render(None, &[]);
    let expect: [(&str, u16, &[&str]); 5] = [
        (
            "gateway",
            8080,
            &[
                "IDENTITY_URL",
                "SCRAPER_URL",
                "APP_URL",
                "JWKS_URL",
                "JWT_ISSUER",
                "JWT_AUDIENCE",
                "RATE_LIMIT_PER_SECOND",
                "RATE_LIMIT_BURST",
                "TRUSTED_PROXIES",
                "REDIS_URL",
            ],
        ),
        (
            "identity",
            8081,
            &[
                "DATABASE_URL",
                "REDIS_URL",
                "JWT_SIGNING_KEY_FILE",
                "ACCESS_TOKEN_TTL",
                "REFRESH_TOKEN_TTL",
                "GLEANER_ADMIN_EMAIL",
                "TRUSTED_PROXIES",
            ],
        ),
        (
            "scraper",
            8082,
            &[
                "DATABASE_URL",
                "REDIS_URL",
                "JWKS_URL",
                "SCRAPER_ALLOWED_HOSTS",
                "SCRAPER_ALLOWED_NETWORKS",
            ],
        ),
        (
            "app",
            8083,
            &[
                "DATABASE_URL",
                "REDIS_URL",
                "JWKS_URL",
                "SCRAPER_URL",
                "IDENTITY_URL",
                "APP_JOBS_BACKEND",
                "SCRAPER_ALLOWED_HOSTS",
                "SCRAPER_ALLOWED_NETWORKS",
            ],
        ),
        ("operator", 8084, &["SCRAPER_IMAGE", "WATCH_NAMESPACE"]),
    ];
    for (component, port, names) in expect {
        let name = format!("gleaner-{component}");
        let env = env_of(&docs, &name);
        for n in names
            .iter()
            .chain(&["LISTEN_ADDR", "LOG_FORMAT", "RUST_LOG", "GLEANER_ENV"])
        {
            assert!(env.contains_key(*n), "{name}: {n}");
        }
        assert_eq!(
            env["LISTEN_ADDR"].as_deref(),
            Some(format!("0.0.0.0:{port}").as_str())
        );
        assert_eq!(env["GLEANER_ENV"].as_deref(), Some("production"));
        let d: Deployment = typed(get(&docs, "Deployment", &name));
        let c = &d.spec.template.spec.unwrap().containers[0];
        let probe_path = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
            p.as_ref()
                .and_then(|p| p.http_get.as_ref())
                .and_then(|h| h.path.clone())
        };
        // The gateway's binary only serves; the others have subcommands.
        let args = match component {
            "gateway" => None,
            "operator" => Some(vec!["run".to_owned()]),
            _ => Some(vec!["serve".to_owned()]),
        };
        assert_eq!(c.args, args, "{name}");
        assert_eq!(probe_path(&c.readiness_probe).as_deref(), Some("/ready"));
        assert_eq!(probe_path(&c.liveness_probe).as_deref(), Some("/health"));
        assert_eq!(c.ports.as_ref().unwrap()[0].container_port, i32::from(port));
        // A Service and a PodDisruptionBudget for each.
        let svc_name = if component == "operator" {
            "gleaner-operator-metrics".to_owned()
        } else {
            name.clone()
        };
        let svc: Service = typed(get(&docs, "Service", &svc_name));
        assert_eq!(svc.spec.unwrap().ports.unwrap()[0].port, i32::from(port));
        assert!(
            find(&docs, "PodDisruptionBudget", &name).is_some(),
            "{name}"
        );
    }
    // The client is the address the ingress saw: one proxy in front of the gateway, two in
    // front of identity (the ingress and the gateway).
    assert_eq!(
        env_of(&docs, "gleaner-gateway")["TRUSTED_PROXIES"].as_deref(),
        Some("1")
    );
    assert_eq!(
        env_of(&docs, "gleaner-identity")["TRUSTED_PROXIES"].as_deref(),
        Some("2")
    );
    assert_eq!(
        env_of(&docs, "gleaner-gateway")["JWKS_URL"].as_deref(),
        Some("http://gleaner-identity:8081/.well-known/jwks.json")
    );
    // The Ingress leads to the gateway.
    let ingress: Ingress = typed(get(&docs, "Ingress", "gleaner-gateway"));
    let rule = &ingress.spec.unwrap().rules.unwrap()[0];
    let backend = rule.http.as_ref().unwrap().paths[0]
        .backend
        .service
        .clone()
        .unwrap();
    assert_eq!(backend.name, "gleaner-gateway");
    // Autoscalers when asked for, and then the Deployment leaves replicas to them.
    let docs = render(None, &["--set", "scraper.autoscaling.enabled=true"]);
    let hpa: HorizontalPodAutoscaler =
        typed(get(&docs, "HorizontalPodAutoscaler", "gleaner-scraper"));
    assert_eq!(hpa.spec.scale_target_ref.name, "gleaner-scraper");
    let d: Deployment = typed(get(&docs, "Deployment", "gleaner-scraper"));
    assert_eq!(d.spec.replicas, None);
}

#[test]
fn migrations_run_in_hooks_before_upgrades() {
    if !have_helm() {
        return;
    }
    for (values, hooks, init) in [
        (None, "pre-upgrade", true),
        (
            Some("values-external.yaml"),
            "pre-install,pre-upgrade",
            false,
        ),
    ] {
        let docs = render(values, &[]);
        for component in ["identity", "scraper", "app"] {
            let doc = get(&docs, "Job", &format!("gleaner-{component}-migrate"));
            assert_eq!(doc["metadata"]["annotations"]["helm.sh/hook"], hooks);
            // The in-chart database exists only after the install: the first migration
            // runs in the service's init container.
            let d: Deployment = typed(get(&docs, "Deployment", &format!("gleaner-{component}")));
            let inits = d
                .spec
                .template
                .spec
                .unwrap()
                .init_containers
                .unwrap_or_default();
            assert_eq!(
                inits
                    .iter()
                    .any(|c| c.args.as_deref() == Some(&["migrate".to_owned()][..])),
                init,
                "{component}"
            );
            let job: Job = typed(doc);
            let c = &job.spec.unwrap().template.spec.unwrap().containers[0];
            assert_eq!(c.args.clone().unwrap(), ["migrate"]);
            assert_eq!(
                c.image
                    .as_deref()
                    .map(|i| i.contains(&format!("/{component}:"))),
                Some(true)
            );
            let url = c
                .env
                .iter()
                .flatten()
                .find(|e| e.name == "DATABASE_URL")
                .unwrap();
            let key = url
                .value_from
                .as_ref()
                .and_then(|v| v.secret_key_ref.as_ref())
                .unwrap();
            assert_eq!(key.key, component);
        }
    }
}

#[test]
fn in_chart_databases_or_external_ones_from_secrets() {
    if !have_helm() {
        return;
    }
    let docs = render(None, &[]);
    for name in ["gleaner-postgresql", "gleaner-redis"] {
        let s: StatefulSet = typed(get(&docs, "StatefulSet", name));
        let spec = s.spec;
        assert_eq!(spec.volume_claim_templates.unwrap().len(), 1, "{name}");
        let image = spec.template.spec.unwrap().containers[0]
            .image
            .clone()
            .unwrap();
        assert!(
            image.starts_with("postgres:16") || image.starts_with("redis:7"),
            "{image}"
        );
    }
    // Run pods find the scraper's database URL where they run.
    let secret: Secret = typed(get(&docs, "Secret", "gleaner-scraper-db"));
    assert!(secret.data.unwrap().contains_key("url"));

    let docs = render(Some("values-external.yaml"), &[]);
    assert!(docs.iter().all(|d| d["kind"] != "StatefulSet"));
    assert!(find(&docs, "Secret", "gleaner-scraper-db").is_none());
    let identity = get(&docs, "Deployment", "gleaner-identity");
    let text = identity.to_string();
    assert!(text.contains("\"gleaner-database\""), "{text}");
    assert!(text.contains("\"gleaner-redis\""));
    // An external database needs its Secret named.
    let err = try_render(None, &["--set", "postgresql.enabled=false"]).unwrap_err();
    assert!(err.contains("externalDatabase"), "{err}");
}

/// The operator hands sharded runs a REDIS_URL from a Secret in the namespace they run in:
/// the chart makes it from the in-chart Redis, expects it with an external one, and an
/// empty name gives runs no Redis at all.
#[test]
fn sharded_runs_find_redis_in_a_secret_where_they_run() {
    if !have_helm() {
        return;
    }
    let docs = render(None, &[]);
    let env = env_of(&docs, "gleaner-operator");
    assert_eq!(
        env["SCRAPER_REDIS_SECRET"].as_deref(),
        Some("gleaner-scraper-redis")
    );
    assert_eq!(env["SCRAPER_REDIS_SECRET_KEY"].as_deref(), Some("url"));
    let secret: Secret = typed(get(&docs, "Secret", "gleaner-scraper-redis"));
    assert_eq!(secret.metadata.namespace.as_deref(), Some("gleaner"));
    let url = secret.data.unwrap()["url"].0.clone();
    let url = String::from_utf8(url).unwrap();
    assert!(
        url.starts_with("redis://:") && url.ends_with("@gleaner-redis.gleaner.svc:6379"),
        "{url}"
    );

    // Another watched namespace: the Secret goes there; another key is honoured.
    let docs = render(
        None,
        &[
            "--set",
            "operator.watchNamespace=scrapers,operator.scraper.redisSecretKey=redis-url",
        ],
    );
    let secret = get(&docs, "Secret", "gleaner-scraper-redis");
    assert_eq!(secret["metadata"]["namespace"], "scrapers");
    assert!(secret["data"]["redis-url"].is_string());
    assert_eq!(
        env_of(&docs, "gleaner-operator")["SCRAPER_REDIS_SECRET_KEY"].as_deref(),
        Some("redis-url")
    );

    // An external Redis: the Secret is the operator's to name and yours to create.
    let docs = render(Some("values-external.yaml"), &[]);
    assert!(find(&docs, "Secret", "gleaner-scraper-redis").is_none());
    assert_eq!(
        env_of(&docs, "gleaner-operator")["SCRAPER_REDIS_SECRET"].as_deref(),
        Some("gleaner-scraper-redis")
    );

    // No Redis for runs: neither the setting nor the Secret.
    let docs = render(None, &["--set", "operator.scraper.redisSecret="]);
    assert!(find(&docs, "Secret", "gleaner-scraper-redis").is_none());
    let env = env_of(&docs, "gleaner-operator");
    assert!(!env.contains_key("SCRAPER_REDIS_SECRET"), "{env:?}");
    assert!(!env.contains_key("SCRAPER_REDIS_SECRET_KEY"), "{env:?}");
    // A key Kubernetes would refuse is refused by the schema.
    let err = try_render(None, &["--set", "operator.scraper.redisSecretKey=a b"]).unwrap_err();
    assert!(err.contains("redisSecretKey"), "{err}");
}
