//! A small, strict PEM (RFC 7468) decoder and encoder over the `base64` crate.
//!
//! [`decode`]: one block per input; only whitespace may surround it. [`private_key`]: the one
//! private key among the blocks of a file as tools write them (a key and its certificate in
//! either order, `openssl pkcs12 -nodes` output with its `Bag Attributes` lines, `openssl
//! ecparam -genkey` output with its `EC PARAMETERS` block): text between blocks is ignored
//! (RFC 7468 §5.2). Inside a block, both read lines of standard base64 of at most 76
//! characters with `\n` or `\r\n` endings; padding required; the END label must repeat the
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

/// At most this many blocks are read from one file (a key and a certificate chain).
const MAX_BLOCKS: usize = 16;

/// Whether a PEM label names a private key (`PRIVATE KEY`, `RSA PRIVATE KEY`,
/// `EC PRIVATE KEY`, `ENCRYPTED PRIVATE KEY`, `OPENSSH PRIVATE KEY`, ...).
fn is_private_label(label: &str) -> bool {
    label.ends_with("PRIVATE KEY")
}

/// One block of a PEM file: its label, its base64 body (zeroized), and whether it carried
/// RFC 1421 encryption headers (`Proc-Type: 4,ENCRYPTED`).
struct Block<'a> {
    label: &'a str,
    body: Zeroizing<String>,
    encrypted_headers: bool,
}

/// Every block of `text`, ignoring the text between blocks; each block strict inside.
fn blocks(text: &str) -> Result<Vec<Block<'_>>, KeyError> {
    if text.len() > MAX_PEM_LEN {
        return Err(KeyError::Pem);
    }
    let mut out: Vec<Block<'_>> = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let line = line.trim_end_matches(|c: char| c.is_ascii_whitespace());
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            // Explanatory text between blocks (`Bag Attributes`, `subject=`, comments).
            continue;
        };
        if label.is_empty()
            || !label
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b == b' ' || b.is_ascii_digit())
        {
            return Err(KeyError::Pem);
        }
        if out.len() == MAX_BLOCKS {
            return Err(KeyError::Pem);
        }
        let mut block = Block {
            label,
            body: Zeroizing::new(String::new()),
            encrypted_headers: false,
        };
        let mut ended = false;
        for line in lines.by_ref() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if let Some(end) = line.strip_prefix("-----END ") {
                if end.strip_suffix("-----") != Some(label) {
                    return Err(KeyError::Pem);
                }
                ended = true;
                break;
            }
            // RFC 1421 headers of a legacy encrypted key, and the blank line after them.
            if line.contains(':') || (line.is_empty() && block.encrypted_headers) {
                block.encrypted_headers = true;
                continue;
            }
            if line.is_empty() || line.len() > MAX_LINE {
                return Err(KeyError::Pem);
            }
            block.body.push_str(line);
        }
        if !ended || block.body.is_empty() {
            return Err(KeyError::Pem);
        }
        out.push(block);
    }
    Ok(out)
}

/// The one private key of a PEM file, with its label: the other blocks (certificates, EC
/// parameters) and the text between blocks are ignored. No block at all is
/// [`KeyError::Pem`]; blocks but no private key is [`KeyError::PemLabel`]; several private
/// keys is [`KeyError::AmbiguousPem`]; an encrypted one is [`KeyError::Encrypted`].
pub(crate) fn private_key(text: &str) -> Result<(&str, Zeroizing<Vec<u8>>), KeyError> {
    let all = blocks(text)?;
    let mut keys = all.iter().filter(|b| is_private_label(b.label));
    let key = match (keys.next(), keys.next()) {
        (Some(key), None) => key,
        (Some(_), Some(_)) => return Err(KeyError::AmbiguousPem),
        (None, _) if all.is_empty() => return Err(KeyError::Pem),
        (None, _) => return Err(KeyError::PemLabel),
    };
    if key.encrypted_headers || key.label == "ENCRYPTED PRIVATE KEY" {
        return Err(KeyError::Encrypted);
    }
    let der = STANDARD
        .decode(key.body.as_bytes())
        .map_err(|_| KeyError::Pem)?;
    Ok((key.label, Zeroizing::new(der)))
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
    fn the_private_key_is_picked_out_of_a_bundle() {
        let key = encode("PRIVATE KEY", b"the private key bytes").to_string();
        let cert = encode("CERTIFICATE", b"a certificate").to_string();
        let bag = "Bag Attributes\n    localKeyID: 01 02 \nsubject=CN = x\nissuer=CN = x\n";
        for text in [
            format!("{key}{cert}"),
            format!("{cert}{key}"),
            format!("{bag}{cert}{bag}Key Attributes: <No Attributes>\n{key}"),
            key.replace('\n', "\r\n"),
        ] {
            let (label, der) = private_key(&text).unwrap();
            assert_eq!(
                (label, &der[..]),
                ("PRIVATE KEY", &b"the private key bytes"[..])
            );
        }
        assert_eq!(private_key(&cert).map(|_| ()), Err(KeyError::PemLabel));
        assert_eq!(private_key("no pem here").map(|_| ()), Err(KeyError::Pem));
        assert_eq!(
            private_key(&format!("{key}{cert}{key}")).map(|_| ()),
            Err(KeyError::AmbiguousPem)
        );
        let encrypted = encode("ENCRYPTED PRIVATE KEY", b"x").to_string();
        assert_eq!(
            private_key(&encrypted).map(|_| ()),
            Err(KeyError::Encrypted)
        );
        let legacy = encode("RSA PRIVATE KEY", b"secret").replace(
            "KEY-----\n",
            "KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n",
        );
        assert_eq!(private_key(&legacy).map(|_| ()), Err(KeyError::Encrypted));
        // Inside a block the rules stay strict.
        let broken = key.replace("-----END PRIVATE KEY-----", "-----END CERTIFICATE-----");
        assert_eq!(private_key(&broken).map(|_| ()), Err(KeyError::Pem));
        let unterminated = key.replace("-----END PRIVATE KEY-----\n", "");
        assert_eq!(private_key(&unterminated).map(|_| ()), Err(KeyError::Pem));
        let many = cert.repeat(MAX_BLOCKS) + &key;
        assert_eq!(private_key(&many).map(|_| ()), Err(KeyError::Pem));
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
