//! `uniffi-bindgen`: generates the Kotlin, Swift and Python bindings of `doorstep-mobile`
//! from the built library (`scripts/mobile-bindings` runs it).

fn main() {
    uniffi::uniffi_bindgen_main()
}
