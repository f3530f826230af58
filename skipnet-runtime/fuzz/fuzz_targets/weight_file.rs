//! Any bytes through everything generated code and a careful user do with a
//! weight file: `parse`, `validate`, `take` of every tensor under its own
//! shape and under a wrong one, `take_packed`, `finish`. A crash (panic,
//! overflow, out-of-bounds) is a bug; so is an error that hides the tensor.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skipnet_runtime::{Error, WeightFile};

fn check(e: &Error, name: Option<&str>) {
    let msg = e.to_string();
    assert!(!msg.is_empty());
    if let Some(n) = name {
        assert!(msg.contains(&format!("`{n}`")), "{msg}");
    }
    for raw in [
        "TensorInvalidInfo",
        "InvalidOffset",
        "InvalidHeader",
        "JsonError",
    ] {
        assert!(!msg.contains(raw), "{msg}");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut file = match WeightFile::parse(data) {
        Ok(f) => f,
        Err(e) => {
            check(&e, None);
            return;
        }
    };
    // Our checks passed, so safetensors' own parse is safe to call here.
    let Ok(st) = safetensors::SafeTensors::deserialize(data) else {
        panic!("WeightFile::parse accepted what safetensors refuses");
    };
    if let Err(e) = file.validate() {
        check(&e, None);
    }
    let mut names: Vec<String> = st.names().into_iter().cloned().collect();
    names.sort();
    for name in &names {
        let Ok(view) = st.tensor(name) else { continue };
        let shape = view.shape().to_vec();
        let mut wrong = shape.clone();
        wrong.push(2);
        if let Err(e) = file.take_values(name, &wrong) {
            check(&e, Some(name));
        }
        match file.take_values(name, &shape) {
            Ok(v) => assert_eq!(v.len(), shape.iter().product::<usize>()),
            Err(e) => check(&e, Some(name)),
        }
        if let Err(e) = file.take_packed::<4>(name, &shape, |raw, out| {
            for (o, r) in out.iter_mut().zip(raw) {
                *o = *r;
            }
        }) {
            check(&e, Some(name));
        }
    }
    if let Err(e) = file.take::<1>("\u{0}not in the file", &[1]) {
        check(&e, Some("\u{0}not in the file"));
    }
    if let Err(e) = file.finish() {
        check(&e, None);
    }
});
