//! Package size: the zipped `bootstrap` Lambda stores and loads on every cold start.
//!
//! Exam: a .zip deployment package may be at most 50 MB zipped (uploaded directly; larger ones go
//! through S3) and 250 MB unzipped, layers included. Far below those limits size still matters:
//! Lambda fetches and unpacks the code before the init phase starts, on every cold start. The
//! zip measured is the one `cargo lambda build --release --output-format zip` writes, the build
//! `sam build` runs. A package over a limit fails the bench: `sam deploy` would fail with it.

use std::path::Path;

/// Lambda's quota for a .zip uploaded directly (50 MB, counted in MiB).
pub const MAX_ZIPPED_BYTES: u64 = 50 * 1024 * 1024;
/// Lambda's quota for a function's code unzipped, layers included (250 MB, counted in MiB).
pub const MAX_UNZIPPED_BYTES: u64 = 250 * 1024 * 1024;

/// One function's package.
#[derive(Debug, Clone)]
pub struct Package {
    pub function: String,
    /// The zip's size, bytes.
    pub zipped: u64,
    /// The `bootstrap` binary's size, bytes.
    pub unzipped: u64,
}

impl Package {
    /// Whether Lambda would take this package: within both quotas.
    pub fn within_lambda_quotas(&self) -> bool {
        self.zipped <= MAX_ZIPPED_BYTES && self.unzipped <= MAX_UNZIPPED_BYTES
    }
}

/// The packages of `functions`: `<zips>/<function>/bootstrap.zip` and `<binaries>/<function>`.
pub fn measure(
    functions: &[String],
    zips: &Path,
    binaries: &Path,
) -> std::io::Result<Vec<Package>> {
    functions
        .iter()
        .map(|function| {
            let size = |path: &Path| {
                std::fs::metadata(path)
                    .map(|meta| meta.len())
                    .map_err(|error| {
                        std::io::Error::other(format!(
                            "{}: {error} (run make bench)",
                            path.display()
                        ))
                    })
            };
            let package = Package {
                function: function.clone(),
                zipped: size(&zips.join(function).join("bootstrap.zip"))?,
                unzipped: size(&binaries.join(function))?,
            };
            if !package.within_lambda_quotas() {
                return Err(std::io::Error::other(format!(
                    "{function}: {} bytes zipped, {} unzipped: over Lambda's quotas (50 MB, 250 MB)",
                    package.zipped, package.unzipped
                )));
            }
            Ok(package)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(zipped: u64, unzipped: u64) -> Package {
        Package {
            function: "create-order".into(),
            zipped,
            unzipped,
        }
    }

    #[test]
    fn a_package_over_50_mb_zipped_or_250_mb_unzipped_is_refused() {
        const MIB: u64 = 1024 * 1024;
        assert!(package(3 * MIB, 8 * MIB).within_lambda_quotas());
        assert!(package(50 * MIB, 250 * MIB).within_lambda_quotas());
        assert!(!package(50 * MIB + 1, 60 * MIB).within_lambda_quotas());
        assert!(!package(40 * MIB, 250 * MIB + 1).within_lambda_quotas());
    }
}
