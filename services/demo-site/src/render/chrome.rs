//! The page chrome around a company's data: the head with its inline CSS and JS, the
//! navigation and the footer, built once.

use std::fmt::Write as _;
use std::sync::OnceLock;

use super::html::escape_html;

/// The page chrome around the data: head (inline CSS and JS), navigation, footer.
pub(super) struct Chrome {
    pub(super) head: String,
    pub(super) tail: String,
}

pub(super) fn chrome() -> &'static Chrome {
    static CHROME: OnceLock<Chrome> = OnceLock::new();
    CHROME.get_or_init(build_chrome)
}

const SECTIONS: &[(&str, &str)] = &[
    ("A", "Agricultură, silvicultură și pescuit"),
    ("B", "Industria extractivă"),
    ("C", "Industria prelucrătoare"),
    (
        "D",
        "Producția și furnizarea de energie electrică și termică, gaze, apă caldă și aer condiționat",
    ),
    (
        "E",
        "Distribuția apei; salubritate, gestionarea deșeurilor, activități de decontaminare",
    ),
    ("F", "Construcții"),
    (
        "G",
        "Comerț cu ridicata și cu amănuntul; întreținerea și repararea autovehiculelor și a motocicletelor",
    ),
    ("H", "Transport și depozitare"),
    ("I", "Activități de cazare și alimentație publică"),
    ("J", "Informații și comunicații"),
    ("K", "Activități financiare și asigurări"),
    ("L", "Tranzacții imobiliare"),
    ("M", "Activități profesionale, științifice și tehnice"),
    (
        "N",
        "Activități de servicii administrative și activități de servicii suport",
    ),
    (
        "O",
        "Administrație publică și apărare; asigurări sociale obligatorii",
    ),
    ("P", "Învățământ"),
    ("Q", "Sănătate și asistență socială"),
    ("R", "Artă, activități de recreere și de agrement"),
    ("S", "Alte activități de servicii"),
];

const REGIONS: &[&str] = &[
    "Anenii Noi",
    "Basarabeasca",
    "Briceni",
    "Cahul",
    "Cantemir",
    "Călărași",
    "Căușeni",
    "Cimișlia",
    "Criuleni",
    "Dondușeni",
    "Drochia",
    "Dubăsari",
    "Edineț",
    "Fălești",
    "Florești",
    "Glodeni",
    "Hîncești",
    "Ialoveni",
    "Leova",
    "Nisporeni",
    "Ocnița",
    "Orhei",
    "Rezina",
    "Rîșcani",
    "Sîngerei",
    "Soroca",
    "Strășeni",
    "Șoldănești",
    "Ștefan Vodă",
    "Taraclia",
    "Telenești",
    "Ungheni",
];

fn build_chrome() -> Chrome {
    let mut css = String::with_capacity(16 * 1024);
    css.push_str(
        ":root{--brand:#0b5fff;--brand-dark:#0842b0;--text:#1d2330;--muted:#6b7383;--bg:#f5f7fb;--card:#fff;--border:#e3e7ef;--radius:10px;--shadow:0 1px 3px rgba(16,24,40,.08),0 1px 2px rgba(16,24,40,.04)}\n\
         *,*::before,*::after{box-sizing:border-box}\nhtml{-webkit-text-size-adjust:100%;font-size:16px}\n\
         body{margin:0;font-family:Inter,\"Segoe UI\",Roboto,Helvetica,Arial,sans-serif;color:var(--text);background:var(--bg);line-height:1.5}\n\
         a{color:var(--brand);text-decoration:none}a:hover{color:var(--brand-dark);text-decoration:underline}\n\
         .container{max-width:1180px;margin:0 auto;padding:0 16px}\n\
         .topbar{background:#0f1b33;color:#cfd6e4;font-size:13px}.topbar a{color:#cfd6e4}\n\
         .header{background:var(--card);border-bottom:1px solid var(--border);position:sticky;top:0;z-index:50}\n\
         .header .logo{font-weight:800;font-size:22px;letter-spacing:-.5px;color:var(--text)}\n\
         .header .logo span{color:var(--brand)}\n\
         .search{display:flex;gap:8px}.search input{flex:1;padding:10px 14px;border:1px solid var(--border);border-radius:8px}\n\
         .search button{padding:10px 18px;border:0;border-radius:8px;background:var(--brand);color:#fff;font-weight:600;cursor:pointer}\n\
         .card{background:var(--card);border:1px solid var(--border);border-radius:var(--radius);box-shadow:var(--shadow);padding:20px 24px;margin:16px 0}\n\
         .company-title{font-size:28px;line-height:1.2;margin:0 0 8px}\n\
         .company-fields{display:grid;grid-template-columns:220px 1fr;gap:8px 16px;margin:0}\n\
         .company-fields dt{color:var(--muted);font-weight:500}.company-fields dd{margin:0;font-weight:600}\n\
         table{width:100%;border-collapse:collapse}th,td{text-align:left;padding:10px 12px;border-bottom:1px solid var(--border);vertical-align:top}\n\
         th{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}\n\
         .muted{color:var(--muted)}.badge{display:inline-block;padding:2px 8px;border-radius:999px;font-size:12px;font-weight:600}\n\
         .badge-ok{background:#e6f6ed;color:#137a3b}.badge-off{background:#fdecec;color:#b42318}\n\
         .footer{background:#0f1b33;color:#aab4c8;padding:40px 0 24px;margin-top:48px;font-size:14px}.footer a{color:#dfe5f0}\n\
         .footer .cols{display:grid;grid-template-columns:repeat(4,1fr);gap:24px}\n\
         @media (max-width:760px){.company-fields{grid-template-columns:1fr}.footer .cols{grid-template-columns:1fr 1fr}.nav-sections{display:none}}\n",
    );
    // Utility classes, as a CSS framework would ship them.
    let props = [
        ("m", "margin"),
        ("mt", "margin-top"),
        ("mb", "margin-bottom"),
        ("ml", "margin-left"),
        ("mr", "margin-right"),
        ("p", "padding"),
        ("pt", "padding-top"),
        ("pb", "padding-bottom"),
        ("pl", "padding-left"),
        ("pr", "padding-right"),
    ];
    for (short, prop) in props {
        for step in 0..=12 {
            let _ = writeln!(
                css,
                ".{short}-{step}{{{prop}:{}rem!important}}",
                f64::from(step) * 0.25
            );
        }
    }
    for (name, value) in [
        ("flex", "display:flex"),
        ("grid", "display:grid"),
        ("block", "display:block"),
        ("inline", "display:inline"),
        ("hidden", "display:none"),
        ("items-center", "align-items:center"),
        ("justify-between", "justify-content:space-between"),
        ("text-right", "text-align:right"),
        ("text-center", "text-align:center"),
        ("font-bold", "font-weight:700"),
        ("uppercase", "text-transform:uppercase"),
        (
            "truncate",
            "overflow:hidden;text-overflow:ellipsis;white-space:nowrap",
        ),
    ] {
        for bp in ["", "sm\\:", "md\\:", "lg\\:"] {
            let _ = writeln!(css, ".{bp}{name}{{{value}}}");
        }
    }
    for w in [10, 20, 25, 30, 33, 40, 50, 60, 66, 70, 75, 80, 90, 100] {
        let _ = writeln!(
            css,
            ".w-{w}{{width:{w}%!important}}.h-{w}{{height:{w}%!important}}"
        );
    }

    let js = "window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}\n\
        (function(){'use strict';var cfg={apiUrl:'/api',locale:'ro-MD',currency:'MDL',pageSize:20,features:{financials:true,darkMode:false,compare:true}};\n\
        window.__OPENMONEY__=cfg;\n\
        function qs(s,r){return(r||document).querySelector(s)}function qsa(s,r){return Array.prototype.slice.call((r||document).querySelectorAll(s))}\n\
        function debounce(fn,ms){var t;return function(){var a=arguments,c=this;clearTimeout(t);t=setTimeout(function(){fn.apply(c,a)},ms)}}\n\
        function onReady(fn){if(document.readyState!=='loading'){fn()}else{document.addEventListener('DOMContentLoaded',fn)}}\n\
        onReady(function(){var input=qs('#search-input');if(!input){return}var box=qs('#search-suggest');\n\
        input.addEventListener('input',debounce(function(){var q=input.value.trim();if(q.length<3){box.innerHTML='';return}\n\
        fetch(cfg.apiUrl+'/companies?page=1&size=5&q='+encodeURIComponent(q)).then(function(r){return r.json()}).then(function(j){\n\
        box.innerHTML=(j.data||[]).map(function(c){return '<a class=\"suggest\" href=\"/companies/'+c.idno+'\">'+c.fullName.replace(/</g,'&lt;')+'</a>'}).join('')})\n\
        .catch(function(){box.innerHTML=''})},250));qsa('[data-toggle]').forEach(function(el){el.addEventListener('click',function(){\n\
        var t=qs(el.getAttribute('data-toggle'));if(t){t.classList.toggle('hidden')}})});\n\
        var theme=localStorage.getItem('theme');if(theme==='dark'){document.documentElement.classList.add('dark')}});\n\
        gtag('js',new Date());gtag('config','G-DEMO000000',{anonymize_ip:true});})();\n";

    let mut head = String::with_capacity(32 * 1024);
    head.push_str(
        "<!DOCTYPE html>\n<html lang=\"ro\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Fișa companiei — OpenMoney.md</title>\n\
         <meta name=\"description\" content=\"Informații publice despre companiile din Republica Moldova: date de înregistrare, fondatori, administratori, genuri de activitate și rapoarte financiare.\">\n\
         <meta property=\"og:site_name\" content=\"OpenMoney.md\">\n<meta property=\"og:type\" content=\"website\">\n\
         <link rel=\"icon\" href=\"/favicon.ico\">\n<link rel=\"manifest\" href=\"/site.webmanifest\">\n<style>\n",
    );
    head.push_str(&css);
    head.push_str("</style>\n<script>\n");
    head.push_str(js);
    head.push_str(
        "</script>\n</head>\n<body>\n<a class=\"hidden\" href=\"#content\">Treci la conținut</a>\n",
    );
    head.push_str(
        "<div class=\"topbar\"><div class=\"container flex justify-between items-center p-2\">\
         <span>Date deschise despre economia Republicii Moldova</span>\
         <span><a href=\"/ro\">RO</a> · <a href=\"/ru\">RU</a> · <a href=\"/en\">EN</a></span></div></div>\n\
         <header class=\"header\"><div class=\"container flex items-center justify-between p-4\">\n\
         <a class=\"logo\" href=\"/\">Open<span>Money</span>.md</a>\n\
         <form class=\"search w-50\" action=\"/search\" method=\"get\" role=\"search\"><input id=\"search-input\" name=\"q\" type=\"search\" placeholder=\"Caută după denumire sau IDNO\" autocomplete=\"off\"><button type=\"submit\">Caută</button><div id=\"search-suggest\"></div></form>\n\
         <nav class=\"flex\"><a class=\"ml-4\" href=\"/companies\">Companii</a><a class=\"ml-4\" href=\"/achizitii\">Achiziții publice</a><a class=\"ml-4\" href=\"/buget\">Buget</a><a class=\"ml-4\" href=\"/despre\">Despre</a><a class=\"ml-4\" href=\"/login\">Autentificare</a></nav>\n\
         </div></header>\n<nav class=\"nav-sections container\" aria-label=\"Secțiuni CAEM\">\n<ul class=\"flex\">\n",
    );
    for (code, name) in SECTIONS {
        let _ = writeln!(
            head,
            "<li class=\"mr-2\"><a href=\"/companies?section={code}\" title=\"{}\">Secțiunea {code}</a></li>",
            escape_html(name)
        );
    }
    head.push_str("</ul>\n</nav>\n<aside class=\"container hidden md\\:block\" aria-label=\"Raioane\">\n<ul class=\"flex\">\n");
    for region in REGIONS {
        let _ = writeln!(
            head,
            "<li class=\"mr-2\"><a href=\"/companies?raion={}\">{}</a></li>",
            escape_html(&region.to_lowercase().replace(' ', "-")),
            escape_html(region)
        );
    }
    head.push_str("</ul>\n</aside>\n");

    let mut tail = String::with_capacity(8 * 1024);
    tail.push_str("<section class=\"container card\">\n<h2>Despre date</h2>\n");
    for para in [
        "Informația prezentată pe această pagină provine din surse publice oficiale: Registrul de stat al persoanelor juridice, Biroul Național de Statistică și Serviciul Fiscal de Stat. Datele sunt actualizate periodic și pot conține întârzieri față de sursa primară.",
        "OpenMoney.md nu modifică datele primite și nu garantează exhaustivitatea acestora. Pentru confirmarea oficială a informațiilor, vă rugăm să solicitați un extras din registru la Agenția Servicii Publice.",
        "Rapoartele financiare sunt prezentate conform formularelor standard (bilanțul, situația de profit și pierdere, situația fluxurilor de numerar) depuse de entitățile raportoare.",
    ] {
        let _ = writeln!(tail, "<p class=\"muted\">{para}</p>");
    }
    tail.push_str("</section>\n<footer class=\"footer\">\n<div class=\"container cols\">\n");
    for (title, links) in [
        (
            "Platformă",
            &[
                "Despre proiect",
                "Metodologie",
                "Surse de date",
                "API pentru dezvoltatori",
                "Termeni de utilizare",
                "Politica de confidențialitate",
            ][..],
        ),
        (
            "Explorează",
            &[
                "Companii",
                "Achiziții publice",
                "Bugetul de stat",
                "Granturi",
                "Subvenții agricole",
                "Donații partide",
            ][..],
        ),
        (
            "Comunitate",
            &[
                "Blog",
                "Studii de caz",
                "Vizualizări",
                "Hackathoane",
                "Parteneri",
                "Voluntariat",
            ][..],
        ),
        (
            "Contact",
            &[
                "Scrie-ne",
                "Raportează o eroare",
                "Facebook",
                "Telegram",
                "GitHub",
                "Presă",
            ][..],
        ),
    ] {
        let _ = writeln!(tail, "<div><h4>{title}</h4><ul>");
        for link in links {
            let slug: String = link
                .to_lowercase()
                .chars()
                .map(|c| if c.is_alphanumeric() { c } else { '-' })
                .collect();
            let _ = writeln!(
                tail,
                "<li><a href=\"/{}\">{link}</a></li>",
                escape_html(&slug)
            );
        }
        tail.push_str("</ul></div>\n");
    }
    tail.push_str(
        "</div>\n<div class=\"container mt-8\"><p>© 2015–2024 OpenMoney.md. Conținutul este disponibil sub licența CC BY 4.0, cu excepția cazurilor în care se specifică altfel.</p></div>\n</footer>\n",
    );

    // Pad to a realistic page weight with the kind of payload real pages carry:
    // an inline bootstrap of translations for the client-side app.
    let mut i18n = String::from("<script type=\"application/json\" id=\"i18n\">{");
    let words = [
        "companie",
        "fondator",
        "administrator",
        "activitate",
        "raport",
        "bilanț",
        "venituri",
        "cheltuieli",
        "profit",
        "pierdere",
        "capital",
        "datorii",
        "active",
        "angajați",
        "impozite",
        "subvenții",
    ];
    let target = 30 * 1024 - 3 * 1024;
    let mut k = 0usize;
    while head.len() + tail.len() + i18n.len() < target {
        let w = words[k % words.len()];
        let _ = write!(
            i18n,
            "\"label.{w}.{k}\":\"Etichetă pentru {w} (varianta {k})\",",
        );
        k += 1;
    }
    i18n.push_str("\"_\":\"\"}</script>\n");
    tail.push_str(&i18n);
    tail.push_str("</body>\n</html>\n");
    Chrome { head, tail }
}
