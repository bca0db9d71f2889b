//! Properties of the claims parser, through the verifier: JSON that says the same thing in
//! other words verifies to the same claims (members in any order, member names and strings
//! with `\u` escapes, NumericDates in any equivalent number form), and any non-object where
//! an object is required (the claims set, `cnf`, `cnf.jwk`, a JWK, a JWK Set) is rejected.

use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{Value, json};
use token_engine::jose::Jwks;
use token_engine::{
    AccessTokenClaims, Algorithm, Error, JwksOptions, KeyError, ManualClock, SigningKey,
    TokenError, Verifier, VerifyingKey,
};

use crate::common::{AUD, ISS, NOW, forge, rules};

/// A JSON number `±int.frac`, kept as decimal digits so every spelling is exact.
#[derive(Clone, Debug)]
struct Num {
    neg: bool,
    int: u64,
    /// Fraction digits, possibly empty or all zeros.
    frac: &'static str,
}

impl Num {
    fn has_fraction(&self) -> bool {
        self.frac.bytes().any(|b| b != b'0')
    }

    /// The value rounded down (`floor`) or up (`ceil`), computed on the digits.
    fn rounded(&self, up: bool) -> i64 {
        let int = i64::try_from(self.int).unwrap();
        let carry = i64::from(self.has_fraction());
        match (self.neg, up) {
            (false, false) => int,
            (false, true) => int + carry,
            (true, false) => -(int + carry),
            (true, true) => -int,
        }
    }
}

/// A JSON document whose spelling is chosen when it is written.
#[derive(Clone, Debug)]
enum J {
    Str(String),
    Num(Num),
    /// Written exactly (custom members, whose numbers are not NumericDates).
    Raw(&'static str),
    Arr(Vec<J>),
    Obj(Vec<(&'static str, J)>),
}

/// The choices of one spelling, drawn from fuzz bytes; `None` writes the canonical form.
struct Choices<'a>(Option<std::slice::Iter<'a, u8>>);

impl Choices<'_> {
    fn next(&mut self) -> Option<u8> {
        self.0.as_mut().map(|it| it.next().copied().unwrap_or(0))
    }
}

fn write_str(s: &str, c: &mut Choices<'_>, out: &mut String) {
    out.push('"');
    for ch in s.chars() {
        match c.next() {
            Some(b) if b % 3 == 1 => {
                for unit in ch.encode_utf16(&mut [0; 2]) {
                    if b & 0x80 == 0 {
                        out.push_str(&format!("\\u{unit:04x}"));
                    } else {
                        out.push_str(&format!("\\u{unit:04X}"));
                    }
                }
            }
            _ => {
                let quoted = serde_json::to_string(&ch.to_string()).unwrap();
                out.push_str(&quoted[1..quoted.len() - 1]);
            }
        }
    }
    out.push('"');
}

fn write_num(n: &Num, c: &mut Choices<'_>, out: &mut String) {
    if n.neg {
        out.push('-');
    }
    // value = m × 10^k, m without leading zeros.
    let digits = format!("{}{}", n.int, n.frac);
    let m = match digits.trim_start_matches('0') {
        "" => "0",
        m => m,
    };
    let k = -(n.frac.len() as i64);
    let plain = if n.frac.is_empty() {
        n.int.to_string()
    } else {
        format!("{}.{}", n.int, n.frac)
    };
    let form = match c.next() {
        None => 0,
        Some(b) => b % 7,
    };
    match form {
        0 => out.push_str(&plain),
        1 if n.frac.is_empty() => out.push_str(&format!("{plain}.00")),
        1 => out.push_str(&format!("{plain}0")),
        2 => out.push_str(&format!("{m}e{k}")),
        3 if m == "0" => out.push_str("0E+7"),
        3 => out.push_str(&format!("{m}00E{}", k - 2)),
        4 => {
            let (first, rest) = m.split_at(1);
            let exp = k + rest.len() as i64;
            if rest.is_empty() {
                out.push_str(&format!("{first}e+{exp}"));
            } else {
                out.push_str(&format!("{first}.{rest}e{exp}"));
            }
        }
        5 => out.push_str(&format!("{plain}E0")),
        _ => out.push_str(&format!("{plain}e-0")),
    }
}

fn write(j: &J, c: &mut Choices<'_>, out: &mut String) {
    match j {
        J::Str(s) => write_str(s, c, out),
        J::Num(n) => write_num(n, c, out),
        J::Raw(r) => out.push_str(r),
        J::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, c, out);
            }
            out.push(']');
        }
        J::Obj(members) => {
            let mut order: Vec<usize> = (0..members.len()).collect();
            for i in (1..order.len()).rev() {
                if let Some(b) = c.next() {
                    order.swap(i, usize::from(b) % (i + 1));
                }
            }
            out.push('{');
            for (n, &i) in order.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                let (name, value) = &members[i];
                write_str(name, c, out);
                out.push(':');
                write(value, c, out);
            }
            out.push('}');
        }
    }
}

fn spell(j: &J, choices: Option<&[u8]>) -> String {
    let mut out = String::new();
    write(j, &mut Choices(choices.map(|b| b.iter())), &mut out);
    out
}

/// The varying parts of a claims set.
#[derive(Clone, Debug)]
struct Claims {
    exp: Num,
    nbf: Option<Num>,
    iat: Num,
    auth_time: Option<Num>,
    sub: String,
    jti: String,
    many_audiences: bool,
    cnf: Option<(Option<String>, bool)>,
}

/// Fractions whose decimal spellings all parse to the same double.
static FRACTIONS: [&str; 7] = ["", "0", "5", "25", "125", "999", "000"];

fn num(
    ints: impl Strategy<Value = u64>,
    neg: impl Strategy<Value = bool>,
) -> impl Strategy<Value = Num> {
    (ints, neg, prop::sample::select(&FRACTIONS[..])).prop_map(|(int, neg, frac)| Num {
        neg,
        int,
        frac,
    })
}

/// The verifier's clock is `NOW` with 30 s of leeway: `exp` after it, `nbf`/`iat` before it.
fn claims() -> impl Strategy<Value = Claims> {
    let now = NOW as u64;
    (
        num(now + 100..now + 1_000_000_000, Just(false)),
        prop::option::of(num(0..now - 100, any::<bool>())),
        num(0..now - 100, any::<bool>()),
        prop::option::of(num(0..10_000_000_000u64, any::<bool>())),
        "[a-zA-Z0-9 é\"\\\\\u{1F600}/_-]{1,12}",
        "[ -~]{1,12}",
        any::<bool>(),
        prop::option::of((prop::option::of("[A-Za-z0-9_-]{1,43}"), any::<bool>())),
    )
        .prop_map(
            |(exp, nbf, iat, auth_time, sub, jti, many_audiences, cnf)| Claims {
                exp,
                nbf,
                iat,
                auth_time,
                sub,
                jti,
                many_audiences,
                cnf,
            },
        )
}

fn ec_jwk() -> J {
    J::Obj(vec![
        ("kty", J::Str("EC".into())),
        ("crv", J::Str("P-256".into())),
        (
            "x",
            J::Str("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU".into()),
        ),
        (
            "y",
            J::Str("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0".into()),
        ),
        ("kid", J::Str("pop key".into())),
    ])
}

impl Claims {
    fn json(&self) -> J {
        let mut members = vec![
            ("iss", J::Str(ISS.into())),
            ("sub", J::Str(self.sub.clone())),
            (
                "aud",
                if self.many_audiences {
                    J::Arr(vec![J::Str("https://other".into()), J::Str(AUD.into())])
                } else {
                    J::Str(AUD.into())
                },
            ),
            ("exp", J::Num(self.exp.clone())),
            ("iat", J::Num(self.iat.clone())),
            ("jti", J::Str(self.jti.clone())),
            ("client_id", J::Str("app".into())),
            ("scope", J::Str("read write".into())),
            ("sid", J::Str("fam".into())),
            ("pv", J::Str("4.2".into())),
            ("role", J::Str("admin".into())),
            ("level", J::Raw("3")),
            ("nested", J::Raw(r#"{"b":[1,2.5,{"c":null}],"a":"\u00e9"}"#)),
        ];
        if let Some(nbf) = &self.nbf {
            members.push(("nbf", J::Num(nbf.clone())));
        }
        if let Some(auth_time) = &self.auth_time {
            members.push(("auth_time", J::Num(auth_time.clone())));
        }
        if let Some((jkt, with_jwk)) = &self.cnf {
            let mut cnf = vec![(
                "x5t#S256",
                J::Str("bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2".into()),
            )];
            if let Some(jkt) = jkt {
                cnf.push(("jkt", J::Str(jkt.clone())));
            }
            if *with_jwk {
                cnf.push(("jwk", ec_jwk()));
            }
            members.push(("cnf", J::Obj(cnf)));
        }
        J::Obj(members)
    }
}

fn key() -> SigningKey {
    SigningKey::hmac(Algorithm::HS256, &[5; 32]).unwrap()
}

fn verifier() -> Verifier {
    Verifier::new(vec![key().verifying_key()], rules())
        .unwrap()
        .with_clock(ManualClock::new(NOW))
}

fn verify(payload: &str) -> Result<AccessTokenClaims<'static, Value>, Error> {
    let token = forge(r#"{"alg":"HS256","typ":"at+jwt"}"#, payload, |m| {
        key().sign(m).unwrap()
    });
    verifier().verify_as::<Value>(&token)
}

/// JSON that is not an object: scalars, and arrays of anything.
fn non_object() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e300f64..1e300).prop_map(Value::from),
        "[a-z\"\\\\é ]{0,8}".prop_map(Value::from),
    ];
    let any_json = leaf.clone().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            vec(("[a-z]{1,4}", inner), 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    prop_oneof![leaf, vec(any_json, 0..5).prop_map(Value::Array)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn respelled_claims_verify_to_the_same_claims(
        claims in claims(),
        choices in vec(any::<u8>(), 0..400),
    ) {
        let doc = claims.json();
        let canonical = spell(&doc, None);
        let respelled = spell(&doc, Some(&choices));
        let a = verify(&canonical);
        let b = verify(&respelled);
        prop_assert!(a.is_ok(), "{canonical}: {a:?}");
        prop_assert!(b.is_ok(), "{respelled}: {b:?}");
        let (a, b) = (a.unwrap(), b.unwrap());
        prop_assert_eq!(&a, &b, "{} vs {}", canonical, respelled);
        // NumericDates round in the safe direction: exp and auth_time down, nbf and iat up.
        prop_assert_eq!(a.exp, Some(claims.exp.rounded(false)));
        prop_assert_eq!(a.iat, Some(claims.iat.rounded(true)));
        prop_assert_eq!(a.nbf, claims.nbf.as_ref().map(|n| n.rounded(true)));
        prop_assert_eq!(a.auth_time, claims.auth_time.as_ref().map(|n| n.rounded(false)));
        // Nothing of cnf is lost: it serializes to what was written, members in any order.
        let written: Value = serde_json::from_str(&canonical).unwrap();
        match (&a.cnf, written.get("cnf")) {
            (Some(cnf), Some(w)) => prop_assert_eq!(&serde_json::to_value(cnf).unwrap(), w),
            (None, None) => {}
            (got, w) => prop_assert!(false, "cnf {got:?} from {w:?}"),
        }
    }

    #[test]
    fn non_objects_where_objects_are_required_are_rejected(
        claims in claims(),
        bad in non_object(),
        position in 0..3u8,
    ) {
        let mut doc: Value = serde_json::from_str(&spell(&claims.json(), None)).unwrap();
        let obj = doc.as_object_mut().unwrap();
        let payload = match position {
            0 => bad.to_string(),
            1 => {
                obj.insert("cnf".into(), bad.clone());
                doc.to_string()
            }
            _ => {
                obj.insert("cnf".into(), json!({ "jkt": "t", "jwk": bad }));
                doc.to_string()
            }
        };
        let r = verify(&payload);
        prop_assert!(
            matches!(r, Err(Error::InvalidToken(TokenError::Claims))),
            "{payload}: {r:?}"
        );
        // The key importers likewise: a JWK and a JWK Set are objects.
        let text = bad.to_string();
        prop_assert_eq!(VerifyingKey::from_jwk(&text).err(), Some(KeyError::JwkFormat));
        prop_assert_eq!(SigningKey::from_jwk(&text).err(), Some(KeyError::JwkFormat));
        let opts = JwksOptions::default();
        prop_assert_eq!(Jwks::parse(&text, &opts).err(), Some(KeyError::JwkFormat));
        let set = format!(r#"{{"keys":[{text}]}}"#);
        prop_assert_eq!(Jwks::parse(&set, &opts).err(), Some(KeyError::JwkFormat));
    }
}
