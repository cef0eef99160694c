//! Building images from Dockerfiles: the build context (and its ignore
//! file), and later the plan and the step executors.
//!
//! Owns turning a parsed Dockerfile and a context directory into image
//! layers. It must not parse Dockerfile text (see `dockerfile`).

pub mod ignore;
