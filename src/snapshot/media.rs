//! Media types of layers and manifests in the two vocabularies images use:
//! OCI (`application/vnd.oci.image.layer.v1.tar+gzip`) and Docker schema 2
//! (`application/vnd.docker.image.rootfs.diff.tar.gzip`). Converting between
//! them never changes a blob, only how a manifest names it.
//!
//! It only names things; it reads and writes nothing.

use crate::layer::codec::Compression;
use oci_spec::image::MediaType;

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const DOCKER_LAYER_ZSTD: &str = "application/vnd.docker.image.rootfs.diff.tar.zstd";

/// How a layer blob with this media type is compressed, if it is a layer.
pub fn layer_compression(mt: &MediaType) -> Option<Compression> {
    match mt {
        MediaType::ImageLayer | MediaType::ImageLayerNonDistributable => Some(Compression::None),
        MediaType::ImageLayerGzip | MediaType::ImageLayerNonDistributableGzip => {
            Some(Compression::Gzip)
        }
        MediaType::ImageLayerZstd | MediaType::ImageLayerNonDistributableZstd => {
            Some(Compression::Zstd)
        }
        other => match other.to_string().as_str() {
            DOCKER_LAYER => Some(Compression::None),
            DOCKER_LAYER_GZIP => Some(Compression::Gzip),
            DOCKER_LAYER_ZSTD => Some(Compression::Zstd),
            _ => None,
        },
    }
}

/// The OCI layer media type for a compression.
pub fn oci_layer(c: Compression) -> MediaType {
    match c {
        Compression::None => MediaType::ImageLayer,
        Compression::Gzip => MediaType::ImageLayerGzip,
        Compression::Zstd => MediaType::ImageLayerZstd,
    }
}

/// The Docker schema 2 layer media type for a compression; Docker has none
/// for zstd that Docker itself reads, so that is refused.
pub fn docker_layer(c: Compression) -> Result<MediaType, super::Error> {
    match c {
        Compression::None => Ok(MediaType::Other(DOCKER_LAYER.into())),
        Compression::Gzip => Ok(MediaType::Other(DOCKER_LAYER_GZIP.into())),
        Compression::Zstd => Err(super::Error::ZstdInDocker),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_vocabularies_map_to_the_same_compression() {
        for c in [Compression::None, Compression::Gzip] {
            assert_eq!(layer_compression(&oci_layer(c)), Some(c));
            assert_eq!(layer_compression(&docker_layer(c).unwrap()), Some(c));
        }
        assert_eq!(
            layer_compression(&oci_layer(Compression::Zstd)),
            Some(Compression::Zstd)
        );
        assert!(docker_layer(Compression::Zstd).is_err());
        assert_eq!(layer_compression(&MediaType::ImageConfig), None);
    }
}
