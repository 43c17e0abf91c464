//! The bindings wit-bindgen generates for the `full-plugin` world of `wit/plugin.wit`.
//!
//! Plugin authors use the re-exports in [`crate::types`] rather than these paths; the generated
//! `export_full_plugin!` macro is what [`crate::export_plugin!`] expands to on `wasm32`.

wit_bindgen::generate!({
    path: "../../wit",
    world: "full-plugin",
    // The export macro is used from the plugin's crate, so it is public and finds the generated
    // types and the wit-bindgen runtime through this crate rather than through the plugin's own
    // dependencies.
    pub_export_macro: true,
    export_macro_name: "export_full_plugin",
    default_bindings_module: "::sluice_guest::bindings",
    runtime_path: "::sluice_guest::__private::wit_bindgen::rt",
    additional_derives: [PartialEq],
});
