//! Single-field mutants of a JSON answer, for the property every parser keeps (stated once, in
//! `corpus_tests.rs`): deleting or mistyping any one field never fails the provider while
//! another part of the answer stays readable. Fields are named by JSON pointer.

use serde_json::{json, Value};

/// How one field was changed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    Deleted,
    /// Replaced by a value of another JSON type.
    Mistyped(Value),
}

/// An answer with exactly one field (object member or list item) changed.
#[derive(Debug, Clone)]
pub(crate) struct Mutant {
    /// JSON pointer of the changed field.
    pub pointer: String,
    pub change: Change,
    pub body: Value,
}

/// Values of every other JSON type than `v`: what a service sends when a field changes type
/// (a negative number and a non-numeric string included, since parsers read numeric strings).
fn mistypes(v: &Value) -> Vec<Value> {
    let all = [
        Value::Null,
        json!("x"),
        json!(7),
        json!(-7.5),
        json!(true),
        json!([]),
        json!({}),
    ];
    let same = |w: &Value| std::mem::discriminant(w) == std::mem::discriminant(v);
    all.into_iter().filter(|w| !same(w)).collect()
}

/// JSON pointers of every field and list item below the root, parents before children.
pub(crate) fn pointers(v: &Value) -> Vec<String> {
    fn walk(v: &Value, at: &str, out: &mut Vec<String>) {
        let children: Vec<(String, &Value)> = match v {
            Value::Object(o) => o
                .iter()
                .map(|(k, c)| (k.replace('~', "~0").replace('/', "~1"), c))
                .collect(),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, c)| (i.to_string(), c))
                .collect(),
            _ => return,
        };
        for (key, child) in children {
            let p = format!("{at}/{key}");
            out.push(p.clone());
            walk(child, &p, out);
        }
    }
    let mut out = Vec::new();
    walk(v, "", &mut out);
    out
}

/// `body` with the field at `pointer` (below the root, as [`pointers`] names it) removed
/// (`None`) or replaced.
pub(crate) fn changed(body: &Value, pointer: &str, with: Option<Value>) -> Value {
    let mut out = body.clone();
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer below the root");
    let key = key.replace("~1", "/").replace("~0", "~");
    match (out.pointer_mut(parent).expect("the parent exists"), with) {
        (Value::Object(o), None) => {
            o.remove(&key);
        }
        (Value::Object(o), Some(w)) => {
            o.insert(key, w);
        }
        (Value::Array(a), None) => {
            a.remove(key.parse::<usize>().expect("an index"));
        }
        (Value::Array(a), Some(w)) => a[key.parse::<usize>().expect("an index")] = w,
        _ => unreachable!("pointers only name children of containers"),
    }
    out
}

/// The value at `pointer`.
pub(crate) fn at<'a>(body: &'a Value, pointer: &str) -> &'a Value {
    body.pointer(pointer)
        .expect("the pointer comes from the body")
}

/// Every single-field mutant of `body`: each field deleted, and replaced by each value of
/// another JSON type.
pub(crate) fn mutants(body: &Value) -> Vec<Mutant> {
    let mut out = Vec::new();
    for pointer in pointers(body) {
        out.push(Mutant {
            body: changed(body, &pointer, None),
            pointer: pointer.clone(),
            change: Change::Deleted,
        });
        for w in mistypes(at(body, &pointer)) {
            out.push(Mutant {
                body: changed(body, &pointer, Some(w.clone())),
                pointer: pointer.clone(),
                change: Change::Mistyped(w),
            });
        }
    }
    out
}

/// `pointer` with every list index written `*`: the form exceptions are declared in.
pub(crate) fn pattern(pointer: &str) -> String {
    pointer
        .split('/')
        .map(|s| {
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                "*"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn mutants_delete_and_retype_exactly_one_field() {
    let body = json!({"a": {"b/c": [1, "x"]}, "d": true});
    assert_eq!(
        pointers(&body),
        ["/a", "/a/b~1c", "/a/b~1c/0", "/a/b~1c/1", "/d"]
    );
    let all = mutants(&body);
    // Each field once deleted, and once per other JSON type: an object 6, a list 6,
    // a number 5, a string 6, a boolean 6.
    assert_eq!(all.len(), 5 + 6 + 6 + 5 + 6 + 6);
    let of = |p: &str| -> Vec<&Mutant> { all.iter().filter(|m| m.pointer == p).collect() };
    assert_eq!(
        of("/a/b~1c/0")[0].body,
        json!({"a": {"b/c": ["x"]}, "d": true})
    );
    assert_eq!(of("/a/b~1c/0")[0].change, Change::Deleted);
    assert!(of("/a/b~1c/1")
        .iter()
        .any(|m| m.body == json!({"a": {"b/c": [1, 7]}, "d": true})));
    assert!(of("/d")
        .iter()
        .any(|m| m.body == json!({"a": {"b/c": [1, "x"]}}) && m.change == Change::Deleted));
    for m in of("/d").iter().skip(1) {
        let Change::Mistyped(w) = &m.change else {
            panic!("{m:?}")
        };
        assert!(!w.is_boolean(), "a boolean is not a mistype of a boolean");
        assert_eq!(m.body["d"], *w);
        assert_eq!(m.body["a"], body["a"], "only one field changes");
    }
    assert_eq!(
        pattern("/model_remains/12/model_name"),
        "/model_remains/*/model_name"
    );
    assert_eq!(pattern("/a/b~1c"), "/a/b~1c");
}
