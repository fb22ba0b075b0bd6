//! Query parser: golden cases, error positions, and properties.

use proptest::prelude::*;
use ward_store::query::{Aggregation, Bound, Expr, Pattern, Predicate, Scalar, parse};

fn field(f: &str, pred: Predicate) -> Expr {
    Expr::Field {
        field: f.into(),
        pred,
    }
}

fn exact(f: &str, v: &str) -> Expr {
    field(f, Predicate::Match(Pattern::Exact(v.into())))
}

#[test]
fn golden_queries() {
    let t = |s: &str| ward_store::query::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(t("").expr, Expr::All);
    assert_eq!(t("*").expr, Expr::All);
    assert_eq!(t("** | count").expr, Expr::All);
    assert_eq!(
        t("* NOT x").expr,
        Expr::And(vec![
            Expr::All,
            Expr::Not(Box::new(Expr::Text(Pattern::Exact("x".into()))))
        ])
    );
    assert!(matches!(t("a*").expr, Expr::Text(Pattern::Wildcard(_))));
    assert_eq!(t("user.name:alice").expr, exact("user.name", "alice"));
    assert_eq!(
        t("user.name:adm*").expr,
        field(
            "user.name",
            Predicate::Match(Pattern::Wildcard(
                ward_store::query::Glob::new("adm*").unwrap()
            ))
        )
    );
    assert_eq!(
        t(r#"message:"disk \"full\"""#).expr,
        field(
            "message",
            Predicate::Match(Pattern::Phrase("disk \"full\"".into()))
        )
    );
    assert_eq!(
        t("http.response.status_code:[500 TO 599]").expr,
        field(
            "http.response.status_code",
            Predicate::Range {
                lo: Some(Bound {
                    value: Scalar::Number(500.0),
                    inclusive: true
                }),
                hi: Some(Bound {
                    value: Scalar::Number(599.0),
                    inclusive: true
                }),
            }
        )
    );
    assert_eq!(
        t("x:{1 TO *]").expr,
        field(
            "x",
            Predicate::Range {
                lo: Some(Bound {
                    value: Scalar::Number(1.0),
                    inclusive: false
                }),
                hi: None
            }
        )
    );
    assert_eq!(
        t("event.severity:>=70").expr,
        field(
            "event.severity",
            Predicate::Range {
                lo: Some(Bound {
                    value: Scalar::Number(70.0),
                    inclusive: true
                }),
                hi: None
            }
        )
    );
    assert_eq!(
        t("@timestamp:[2026-01-01 TO 2026-02-01T00:00:00Z]").expr,
        field(
            "@timestamp",
            Predicate::Range {
                lo: Some(Bound {
                    value: Scalar::Time(1_767_225_600_000),
                    inclusive: true
                }),
                hi: Some(Bound {
                    value: Scalar::Time(1_769_904_000_000),
                    inclusive: true
                }),
            }
        )
    );
    assert_eq!(
        t("source.ip:10.0.0.0/8").expr,
        field("source.ip", Predicate::Cidr("10.0.0.0/8".parse().unwrap()))
    );
    assert_eq!(t("source.ip:::1").expr, exact("source.ip", "::1"));
    assert_eq!(t("user.name:*").expr, field("user.name", Predicate::Exists));
    assert_eq!(
        t("a:1 b:2 OR c:3").expr,
        Expr::Or(vec![
            Expr::And(vec![exact("a", "1"), exact("b", "2")]),
            exact("c", "3")
        ])
    );
    assert_eq!(
        t("a:1 AND (b:2 OR NOT c:3) -d:4").expr,
        Expr::And(vec![
            exact("a", "1"),
            Expr::Or(vec![exact("b", "2"), Expr::Not(Box::new(exact("c", "3")))]),
            Expr::Not(Box::new(exact("d", "4"))),
        ])
    );
    assert_eq!(
        t("failed \"disk full\"").expr,
        Expr::And(vec![
            Expr::Text(Pattern::Exact("failed".into())),
            Expr::Text(Pattern::Phrase("disk full".into())),
        ])
    );
    assert_eq!(t("| count").aggregation, Some(Aggregation::Count));
    assert_eq!(
        t("a:1 | count by source.ip").aggregation,
        Some(Aggregation::CountBy("source.ip".into()))
    );
    assert_eq!(
        t("a:1 | top user.name 5").aggregation,
        Some(Aggregation::Top {
            field: "user.name".into(),
            n: 5
        })
    );
    assert_eq!(
        t("| top user.name").aggregation,
        Some(Aggregation::Top {
            field: "user.name".into(),
            n: 10
        })
    );
}

#[test]
fn syntax_errors_say_where_and_what() {
    let cases: &[(&str, usize, &str)] = &[
        ("user.name:", 10, "a value"),
        ("(a:1 OR b:2", 11, "')'"),
        ("a:[1 TO 5", 9, "']' or '}'"),
        ("a:[1 5]", 5, "'TO'"),
        ("a:1 OR", 6, "a search term"),
        ("a:1 | sum x", 6, "'count'"),
        ("a:1 | top f 0", 12, "a number"),
        ("\"unclosed", 0, "closing '\"'"),
        ("a:1 )", 4, "end of query"),
        ("@timestamp:[2026-13-45 TO *]", 12, "a time"),
        ("a:1 :x", 4, "a search term"),
    ];
    for (q, pos, expected) in cases {
        let e = parse(q).expect_err(q);
        assert_eq!(e.position, *pos, "{q}: {e}");
        assert!(e.expected.contains(expected), "{q}: {e}");
        assert!(e.to_string().contains(&format!("position {pos}")), "{e}");
    }
    let deep = "(".repeat(100) + "a:1" + &")".repeat(100);
    assert!(parse(&deep).unwrap_err().expected.contains("nesting"));
    assert!(parse(&"a".repeat(10_000)).is_err());
}

proptest! {
    #[test]
    fn parser_never_panics(s in "\\PC{0,64}") {
        let _ = parse(&s);
    }

    #[test]
    fn error_positions_are_inside_the_query(s in "[a-z:()\\[\\]\"| *OR AND NOT TO0-9.-]{0,40}") {
        if let Err(e) = parse(&s) {
            prop_assert!(e.position <= s.chars().count());
        }
    }

    #[test]
    fn field_terms_round_trip(f in "[a-z]{1,8}(\\.[a-z]{1,8}){0,2}", v in "[a-zA-Z0-9_]{1,12}") {
        prop_assume!(!["OR", "AND", "NOT", "TO"].contains(&v.as_str()));
        let q = parse(&format!("{f}:{v}")).unwrap();
        prop_assert_eq!(q.expr, exact(&f, &v));
    }
}
