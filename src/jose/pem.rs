//! A small, strict PEM (RFC 7468) decoder and encoder over the `base64` crate.
//!
//! One block per input; only whitespace may surround it; lines of standard base64 of at most
//! 76 characters with `\n` or `\r\n` endings; padding required; the END label must repeat the
//! BEGIN label. Decoded bytes and intermediate buffers of private keys are zeroized.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::error::KeyError;

/// Largest PEM text accepted: a 16384-bit RSA private key is about 12 KiB.
const MAX_PEM_LEN: usize = 64 * 1024;
const MAX_LINE: usize = 76;

/// Decode the single PEM block in `text`; returns its label and DER contents.
pub(crate) fn decode(text: &str) -> Result<(&str, Zeroizing<Vec<u8>>), KeyError> {
    if text.len() > MAX_PEM_LEN {
        return Err(KeyError::Pem);
    }
    let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let mut lines = text.lines();
    let first = lines.next().ok_or(KeyError::Pem)?;
    let label = first
        .strip_prefix("-----BEGIN ")
        .and_then(|l| l.strip_suffix("-----"))
        .ok_or(KeyError::Pem)?;
    if label.is_empty()
        || !label
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b' ' || b.is_ascii_digit())
    {
        return Err(KeyError::Pem);
    }
    let mut body = Zeroizing::new(String::with_capacity(text.len()));
    let mut ended = false;
    for line in lines {
        if ended {
            return Err(KeyError::Pem); // anything after END
        }
        if let Some(end) = line.strip_prefix("-----END ") {
            if end.strip_suffix("-----") != Some(label) {
                return Err(KeyError::Pem);
            }
            ended = true;
            continue;
        }
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() || line.len() > MAX_LINE {
            return Err(KeyError::Pem);
        }
        body.push_str(line);
    }
    if !ended || body.is_empty() {
        return Err(KeyError::Pem);
    }
    let der = STANDARD
        .decode(body.as_bytes())
        .map_err(|_| KeyError::Pem)?;
    Ok((label, Zeroizing::new(der)))
}

/// Encode `der` as a PEM block with 64-character lines.
pub(crate) fn encode(label: &str, der: &[u8]) -> Zeroizing<String> {
    let b64 = Zeroizing::new(STANDARD.encode(der));
    let mut out = Zeroizing::new(String::with_capacity(
        b64.len() + b64.len() / 64 + 2 * label.len() + 40,
    ));
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(core::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let der: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        let pem = encode("PRIVATE KEY", &der);
        let (label, back) = decode(&pem).unwrap();
        assert_eq!(label, "PRIVATE KEY");
        assert_eq!(&back[..], &der[..]);
        // CRLF endings and surrounding whitespace are fine.
        let crlf = format!("\n  {}  \n", pem.replace('\n', "\r\n"));
        assert_eq!(&decode(&crlf).unwrap().1[..], &der[..]);
    }

    #[test]
    fn rejects_loose_input() {
        let pem = encode("PUBLIC KEY", b"hello world, this is a key").to_string();
        let cases = [
            pem.replace("END PUBLIC", "END PRIVATE"),
            pem.replace("-----END PUBLIC KEY-----\n", ""),
            format!("junk\n{pem}"),
            format!("{pem}junk\n"),
            format!("{pem}{pem}"),
            pem.replace("aGVs", "aG Vs"),
            pem.replace("aGVs", "aGV*"),
            pem.replace('=', ""),
            pem.replace("-----BEGIN PUBLIC KEY-----", "-----BEGIN public key-----"),
            pem.replace(
                "-----BEGIN PUBLIC KEY-----\n",
                "-----BEGIN PUBLIC KEY-----\n\n",
            ),
            String::new(),
            "-----BEGIN X-----\n-----END X-----".to_owned(),
        ];
        for case in cases {
            assert_eq!(decode(&case).map(|_| ()), Err(KeyError::Pem), "{case:?}");
        }
        let huge = "A".repeat(MAX_PEM_LEN + 1);
        assert_eq!(decode(&huge).map(|_| ()), Err(KeyError::Pem));
    }
}
