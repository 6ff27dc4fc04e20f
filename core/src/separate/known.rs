//! UVR MDX-Net models recognised by their file, so `mixsmith models add FILE.onnx` can write a
//! manifest without the user looking up the model's numbers.
//!
//! An `mdx` model's STFT size, bins, frames and compensation are not inside its `.onnx` file.
//! Ultimate Vocal Remover keys them by a hash of the file ([`uvr_model_hash`]); the table it
//! ships is in `models/known/uvr-mdx-net.toml`, compiled in here.

use std::collections::BTreeMap;
use std::path::Path;

use md5::Md5;
use serde::Deserialize;

use crate::inference::{InferenceError, file_digest};

/// The table of known files, as shipped.
const UVR_MDX_TABLE: &str = include_str!("../../../models/known/uvr-mdx-net.toml");

/// How many bytes at the end of a file UVR's hash covers.
const UVR_HASH_TAIL: u64 = 10_000 * 1024;

/// What an `mdx` manifest needs to know about a known model file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownMdxModel {
    /// What the model outputs: a stem name, or `instrumental` for everything but the vocals.
    pub stem: String,
    /// The STFT size.
    pub n_fft: u32,
    /// The frequency bins the model takes.
    pub dim_f: u32,
    /// The STFT frames the model takes.
    pub dim_t: u32,
    /// The factor the model's output is multiplied by.
    pub compensation: f64,
    /// The model separates the lead vocal only; backing vocals count as accompaniment.
    #[serde(default)]
    pub karaoke: bool,
}

/// Every known model, by its [`uvr_model_hash`].
pub fn known_mdx_models() -> BTreeMap<String, KnownMdxModel> {
    toml::from_str(UVR_MDX_TABLE).expect("models/known/uvr-mdx-net.toml is checked by a test")
}

/// The known model whose file has this [`uvr_model_hash`], if any.
pub fn known_mdx_model(hash: &str) -> Option<KnownMdxModel> {
    known_mdx_models().remove(&hash.to_ascii_lowercase())
}

/// UVR's model hash: the lower-case hex MD5 of the file's last 10 000 KiB, or of the whole file
/// when it is smaller.
pub fn uvr_model_hash(path: &Path) -> Result<String, InferenceError> {
    file_digest::<Md5>(path, UVR_HASH_TAIL)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::separate::{MDX_HOP, Stem};

    #[test]
    fn every_known_model_is_a_usable_mdx_setting() {
        let models = known_mdx_models();
        assert_eq!(models.len(), 40);
        for (hash, model) in &models {
            assert!(
                hash.len() == 32
                    && hash
                        .chars()
                        .all(|c| c.is_ascii_hexdigit() && !c.is_uppercase()),
                "{hash}"
            );
            let role_known = model.stem == "instrumental" || model.stem.parse::<Stem>().is_ok();
            assert!(role_known, "{hash}: stem {}", model.stem);
            assert!(
                model.dim_t.is_power_of_two(),
                "{hash}: dim_t {}",
                model.dim_t
            );
            assert!(
                model.dim_f as usize <= model.n_fft as usize / 2 + 1,
                "{hash}"
            );
            assert!(
                MDX_HOP * (model.dim_t as usize - 1) > model.n_fft as usize,
                "{hash}"
            );
            assert!((1.0..2.0).contains(&model.compensation), "{hash}");
        }
        // Spot checks against UVR's table (model_data.json), including the dim_t exponent.
        let first = &models["0ddfc0eb5792638ad5dc27850236c246"];
        assert_eq!((first.n_fft, first.dim_f, first.dim_t), (6144, 2048, 256));
        assert_eq!((first.stem.as_str(), first.compensation), ("vocals", 1.035));
        let bass = &models["6703e39f36f18aa7855ee1047765621d"];
        assert_eq!(
            (bass.stem.as_str(), bass.n_fft, bass.dim_t),
            ("bass", 16384, 512)
        );
        assert!(known_mdx_model("0DDFC0EB5792638AD5DC27850236C246").is_some());
        assert!(known_mdx_model("00000000000000000000000000000000").is_none());
    }

    #[test]
    fn the_hash_covers_the_last_10000_kib_or_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small.onnx");
        std::fs::write(&small, b"abc").unwrap();
        // RFC 1321's test vector for "abc".
        assert_eq!(
            uvr_model_hash(&small).unwrap(),
            "900150983cd24fb0d6963f7d28e17f72"
        );

        let tail: Vec<u8> = (0..UVR_HASH_TAIL).map(|i| (i * 7 % 251) as u8).collect();
        let tail_only = dir.path().join("tail.onnx");
        std::fs::write(&tail_only, &tail).unwrap();
        let mut long = vec![0x55u8; 12_345];
        long.extend_from_slice(&tail);
        let long_file = dir.path().join("long.onnx");
        std::fs::write(&long_file, &long).unwrap();
        // Whatever precedes the last 10 000 KiB does not count.
        assert_eq!(
            uvr_model_hash(&long_file).unwrap(),
            uvr_model_hash(&tail_only).unwrap()
        );
        long[12_345] ^= 1;
        std::fs::write(&long_file, &long).unwrap();
        assert_ne!(
            uvr_model_hash(&long_file).unwrap(),
            uvr_model_hash(&tail_only).unwrap()
        );

        let missing = uvr_model_hash(&dir.path().join("missing.onnx")).unwrap_err();
        assert!(missing.to_string().contains("missing.onnx"), "{missing}");
    }
}
