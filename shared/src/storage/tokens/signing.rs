//! One asymmetric signing key: its algorithm, its `kid`, the parsed private key that signs,
//! and the public half as a JWK (RFC 7517) that verifies and is published.
//!
//! The crypto is aws-lc-rs (jsonwebtoken's `aws_lc_rs` backend, used directly here to
//! generate keys and to sign with a key pair parsed once rather than on every token). The
//! other backend, `rust_crypto`, signs RSA with the `rsa` crate, which has an open timing
//! advisory about exactly that (RUSTSEC-2023-0071); aws-lc-rs is maintained, has no open
//! advisory for this use, and signs ES256 about ten times faster.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters,
    EllipticCurveKeyType, Jwk, KeyAlgorithm, PublicKeyUse, RSAKeyParameters, RSAKeyType,
    ThumbprintHash,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use thiserror::Error;

/// The JWS algorithms tokens are signed with: ES256 by default (fast to sign), RS256 for
/// relying parties that only do what OpenID Connect makes mandatory (OIDC Core §15.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlg {
    Es256,
    Rs256,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 2] = [SigningAlg::Es256, SigningAlg::Rs256];

    /// The JWA name (RFC 7518 §3.1), as in a JWS header and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::Es256 => "ES256",
            SigningAlg::Rs256 => "RS256",
        }
    }

    pub fn algorithm(self) -> Algorithm {
        match self {
            SigningAlg::Es256 => Algorithm::ES256,
            SigningAlg::Rs256 => Algorithm::RS256,
        }
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SigningAlg {
    type Err = String;

    /// The JWA name, exactly (JWA names are case-sensitive).
    fn from_str(s: &str) -> Result<Self, String> {
        SigningAlg::ALL
            .into_iter()
            .find(|alg| alg.as_str() == s)
            .ok_or_else(|| format!("unsupported signing algorithm {s:?} (ES256 or RS256)"))
    }
}

/// Why a key was refused. The messages never quote the key.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeyError {
    #[error(
        "the key is not an unencrypted PKCS#8 PEM private key (\"-----BEGIN PRIVATE KEY-----\"); \
         convert it with `openssl pkcs8 -topk8 -nocrypt`"
    )]
    NotPkcs8Pem,
    #[error("the key's PEM body is not valid base64")]
    BadBase64,
    #[error("the key is neither a P-256 (ES256) nor an RSA key of 2048 bits or more (RS256)")]
    Unsupported,
    #[error("the stored key is not a valid {0} key")]
    Corrupt(SigningAlg),
    #[error("cannot generate a {0} key")]
    Generation(SigningAlg),
}

enum Pair {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// A parsed key. `Debug` shows its name and dates, never key material.
pub struct SigningKey {
    pub kid: String,
    pub alg: SigningAlg,
    pub created: i64,
    /// When it stopped signing (`None`: it is the active key of its algorithm).
    pub retired: Option<i64>,
    /// When its public key leaves the JWK Set (`None` while active).
    pub expires: Option<i64>,
    pair: Pair,
    jwk: Jwk,
    decoding: DecodingKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("created", &self.created)
            .field("retired", &self.retired)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// RSA keys below this size are refused (RFC 7518 §3.3 requires 2048 bits).
const MIN_RSA_BITS: usize = 2048;

/// A new private key of `alg`, PKCS#8 DER. RS256 takes tens to hundreds of milliseconds.
pub fn generate_pkcs8(alg: SigningAlg) -> Result<Vec<u8>, KeyError> {
    let failed = |_| KeyError::Generation(alg);
    Ok(match alg {
        SigningAlg::Es256 => {
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(failed)?
                .as_ref()
                .to_vec()
        }
        SigningAlg::Rs256 => RsaKeyPair::generate(KeySize::Rsa2048)
            .map_err(failed)?
            .as_der()
            .map_err(failed)?
            .as_ref()
            .to_vec(),
    })
}

/// A fresh random `kid` (URL-safe, 128 bits).
pub fn random_kid() -> String {
    crate::security::secret::random_token(16)
}

/// The DER inside a PEM `PRIVATE KEY` block (PKCS#8, RFC 5958), and its algorithm.
pub fn pkcs8_from_pem(pem: &str) -> Result<(SigningAlg, Vec<u8>), KeyError> {
    const BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
    const END: &str = "-----END PRIVATE KEY-----";
    let start = pem.find(BEGIN).ok_or(KeyError::NotPkcs8Pem)? + BEGIN.len();
    let len = pem[start..].find(END).ok_or(KeyError::NotPkcs8Pem)?;
    let body: String = pem[start..start + len]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let der = STANDARD.decode(body).map_err(|_| KeyError::BadBase64)?;
    let alg = detect(&der)?;
    Ok((alg, der))
}

/// Which algorithm a PKCS#8 key is for: P-256 → ES256, RSA ≥ 2048 bits → RS256.
fn detect(der: &[u8]) -> Result<SigningAlg, KeyError> {
    if EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).is_ok() {
        return Ok(SigningAlg::Es256);
    }
    match RsaKeyPair::from_pkcs8(der) {
        Ok(pair) if pair.public_modulus_len() * 8 >= MIN_RSA_BITS => Ok(SigningAlg::Rs256),
        _ => Err(KeyError::Unsupported),
    }
}

/// The RFC 7638 thumbprint of a key's public half: a `kid` that is the same wherever the same
/// key is configured, so restarts and instances sharing a key file agree on it.
pub fn thumbprint_kid(alg: SigningAlg, der: &[u8]) -> Result<String, KeyError> {
    let key = SigningKey::from_pkcs8("", alg, der, 0)?;
    key.jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| KeyError::Corrupt(alg))
}

impl SigningKey {
    /// Parses a stored or configured PKCS#8 key, active until [`SigningKey::retire_at`].
    pub fn from_pkcs8(
        kid: &str,
        alg: SigningAlg,
        der: &[u8],
        created: i64,
    ) -> Result<SigningKey, KeyError> {
        let corrupt = |_| KeyError::Corrupt(alg);
        let (pair, params) = match alg {
            SigningAlg::Es256 => {
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(corrupt)?;
                // SEC1 uncompressed point: 0x04 || X (32 bytes) || Y (32 bytes).
                let point = pair.public_key().as_ref();
                if point.len() != 65 {
                    return Err(KeyError::Corrupt(alg));
                }
                let params = AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
                    key_type: EllipticCurveKeyType::EC,
                    curve: EllipticCurve::P256,
                    x: URL_SAFE_NO_PAD.encode(&point[1..33]),
                    y: URL_SAFE_NO_PAD.encode(&point[33..]),
                });
                (Pair::Ec(pair), params)
            }
            SigningAlg::Rs256 => {
                let pair = RsaKeyPair::from_pkcs8(der).map_err(corrupt)?;
                if pair.public_modulus_len() * 8 < MIN_RSA_BITS {
                    return Err(KeyError::Unsupported);
                }
                let public = pair.public_key();
                let params = AlgorithmParameters::RSA(RSAKeyParameters {
                    key_type: RSAKeyType::RSA,
                    n: URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
                    e: URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
                });
                (Pair::Rsa(pair), params)
            }
        };
        let jwk = Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(match alg {
                    SigningAlg::Es256 => KeyAlgorithm::ES256,
                    SigningAlg::Rs256 => KeyAlgorithm::RS256,
                }),
                key_id: Some(kid.to_owned()),
                ..CommonParameters::default()
            },
            algorithm: params,
        };
        let decoding = DecodingKey::from_jwk(&jwk).map_err(|_| KeyError::Corrupt(alg))?;
        Ok(SigningKey {
            kid: kid.to_owned(),
            alg,
            created,
            retired: None,
            expires: None,
            pair,
            jwk,
            decoding,
        })
    }

    /// The same key, marked retired at `retired` and unpublished from `expires`.
    pub fn retire_at(mut self, retired: Option<i64>, expires: Option<i64>) -> SigningKey {
        self.retired = retired;
        self.expires = expires;
        self
    }

    pub fn is_active(&self) -> bool {
        self.retired.is_none()
    }

    /// Whether its public key is still published (and so still verifies) at `now`.
    pub fn is_published(&self, now: i64) -> bool {
        self.expires.is_none_or(|expires| expires > now)
    }

    /// The public key as a JWK with `kid`, `alg` and `use: sig`.
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    pub fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }

    /// The JWS signature of `message` (RFC 7518 §3.3/§3.4 forms: PKCS#1 v1.5, or R || S).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, jsonwebtoken::errors::Error> {
        let failed = |_| {
            jsonwebtoken::errors::Error::from(jsonwebtoken::errors::ErrorKind::Signing(format!(
                "{} signing failed",
                self.alg
            )))
        };
        let rng = SystemRandom::new();
        match &self.pair {
            Pair::Ec(pair) => Ok(pair.sign(&rng, message).map_err(failed)?.as_ref().to_vec()),
            Pair::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)
                    .map_err(failed)?;
                Ok(signature)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P256: &str = include_str!("test-keys/p256.pem");
    const RSA2048: &str = include_str!("test-keys/rsa2048.pem");
    const RSA1024: &str = include_str!("test-keys/rsa1024.pem");
    const P384: &str = include_str!("test-keys/p384.pem");

    #[test]
    fn pem_keys_made_by_openssl_are_recognised_by_their_algorithm() {
        let (alg, der) = pkcs8_from_pem(P256).expect("P-256");
        assert_eq!(alg, SigningAlg::Es256);
        let kid = thumbprint_kid(alg, &der).expect("a thumbprint");
        assert_eq!(kid, thumbprint_kid(alg, &der).expect("again"), "stable");
        let (alg, _) = pkcs8_from_pem(RSA2048).expect("RSA 2048");
        assert_eq!(alg, SigningAlg::Rs256);
        assert_eq!(pkcs8_from_pem(RSA1024), Err(KeyError::Unsupported));
        assert_eq!(pkcs8_from_pem(P384), Err(KeyError::Unsupported));
    }

    #[test]
    fn algorithm_names_round_trip_and_nothing_else_parses() {
        for alg in SigningAlg::ALL {
            assert_eq!(alg.as_str().parse::<SigningAlg>(), Ok(alg));
        }
        for name in ["es256", "HS256", "none", "", "RS512"] {
            assert!(name.parse::<SigningAlg>().is_err(), "{name}");
        }
    }

    #[test]
    fn a_generated_key_signs_what_its_jwk_verifies() {
        for alg in SigningAlg::ALL {
            let der = generate_pkcs8(alg).expect("generate");
            let key = SigningKey::from_pkcs8("k1", alg, &der, 0).expect("parse");
            let signature = key.sign(b"header.claims").expect("sign");
            let public = DecodingKey::from_jwk(key.jwk()).expect("a JWK");
            let valid = jsonwebtoken::crypto::verify(
                &URL_SAFE_NO_PAD.encode(&signature),
                b"header.claims",
                &public,
                alg.algorithm(),
            )
            .expect("verify");
            assert!(valid, "{alg}");
            let json = serde_json::to_value(key.jwk()).expect("JSON");
            assert_eq!(json["kid"], "k1");
            assert_eq!(json["alg"], alg.as_str());
            assert_eq!(json["use"], "sig");
            assert!(json.get("d").is_none(), "no private part: {json}");
        }
    }

    #[test]
    fn pem_that_is_not_an_unencrypted_pkcs8_key_is_refused_without_quoting_it() {
        let sec1 = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIA==\n-----END EC PRIVATE KEY-----";
        assert_eq!(pkcs8_from_pem(sec1), Err(KeyError::NotPkcs8Pem));
        assert_eq!(pkcs8_from_pem("not a key"), Err(KeyError::NotPkcs8Pem));
        let bad = "-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----";
        assert_eq!(pkcs8_from_pem(bad), Err(KeyError::BadBase64));
        // A truncated key: valid PEM and base64, not a key.
        let cut = format!("{}\n-----END PRIVATE KEY-----", &P256[..80]);
        let refused = pkcs8_from_pem(&cut).expect_err("refused");
        assert_eq!(refused, KeyError::Unsupported);
        assert!(!refused.to_string().contains(&P256[28..60]), "{refused}");
    }
}
