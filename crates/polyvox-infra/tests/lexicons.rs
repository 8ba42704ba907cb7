//! Pronunciation lexicons on PostgreSQL and SQLite: versions, owners kept apart, the per-owner
//! bound, listing and deletion.

mod common;

use common::DbFixture;
use polyvox_core::lexicon::{Lexicon, LexiconLimits, RawEntry, RawLexicon};
use polyvox_infra::db::{LexiconStore, PutLexicon, SqlLexicons};

fn lexicon(name: &str, alias: &str) -> Lexicon {
    RawLexicon {
        lang: Some("en-us".into()),
        entries: vec![RawEntry {
            grapheme: "Polyvox".into(),
            alias: Some(alias.into()),
            ..Default::default()
        }],
    }
    .validate(name, &LexiconLimits::default())
    .expect("valid")
}

fn stored(p: PutLexicon) -> Lexicon {
    match p {
        PutLexicon::Stored(s) => s.lexicon,
        other => panic!("not stored: {other:?}"),
    }
}

async fn lexicons(f: &DbFixture) {
    let s = SqlLexicons::new(&f.store);
    let (a, b) = (Some("key_a"), Some("key_b"));
    let v1 = stored(
        s.put_lexicon(a, &lexicon("brand", "poly vox"), 3)
            .await
            .unwrap(),
    );
    assert_eq!(v1.version, 1);
    let v2 = stored(
        s.put_lexicon(a, &lexicon("brand", "banana split"), 3)
            .await
            .unwrap(),
    );
    assert_eq!(v2.version, 2, "every write bumps the version");
    let got = s.get_lexicon(a, "brand").await.unwrap().expect("stored");
    assert_eq!(got.lexicon, v2);
    assert!(got.updated_at >= got.created_at);

    // Another owner, and the anonymous owner, see nothing of it and have their own namespace.
    assert!(s.get_lexicon(b, "brand").await.unwrap().is_none());
    assert!(s.get_lexicon(None, "brand").await.unwrap().is_none());
    assert!(!s.delete_lexicon(b, "brand").await.unwrap());
    let anon = stored(
        s.put_lexicon(None, &lexicon("brand", "other"), 3)
            .await
            .unwrap(),
    );
    assert_eq!(anon.version, 1);
    assert_eq!(
        s.get_lexicon(a, "brand")
            .await
            .unwrap()
            .unwrap()
            .lexicon
            .version,
        2
    );

    // The bound counts the owner's other lexicons: rewriting one at the bound is fine.
    for name in ["c2", "c3"] {
        stored(s.put_lexicon(a, &lexicon(name, "x"), 3).await.unwrap());
    }
    assert_eq!(
        s.put_lexicon(a, &lexicon("c4", "x"), 3).await.unwrap(),
        PutLexicon::TooMany { limit: 3 }
    );
    assert_eq!(
        stored(s.put_lexicon(a, &lexicon("c3", "y"), 3).await.unwrap()).version,
        2
    );
    let listed = s.list_lexicons(a).await.unwrap();
    let names: Vec<(&str, u64, u64)> = listed
        .iter()
        .map(|l| (l.name.as_str(), l.version, l.entries))
        .collect();
    assert_eq!(names, [("brand", 2, 1), ("c2", 1, 1), ("c3", 2, 1)]);
    assert_eq!(listed[0].lang.as_deref(), Some("en-us"));

    assert!(s.delete_lexicon(a, "brand").await.unwrap());
    assert!(s.get_lexicon(a, "brand").await.unwrap().is_none());
    assert!(!s.delete_lexicon(a, "brand").await.unwrap());
    assert_eq!(s.list_lexicons(b).await.unwrap(), []);
}

#[tokio::test]
async fn lexicons_on_sqlite() {
    let f = DbFixture::sqlite().await;
    lexicons(&f).await;
    f.teardown().await;
}

#[tokio::test]
async fn lexicons_on_postgres() {
    let f = DbFixture::postgres().await;
    lexicons(&f).await;
    f.teardown().await;
}
