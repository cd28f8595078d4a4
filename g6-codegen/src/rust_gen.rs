//! Rust code generation: label enums, the spec table and typed accessors.
//!
//! Generated code names the runtime through [`RustOptions::runtime`] (`crate` inside
//! g6-metrics, `::g6_metrics` elsewhere) and spells every std path in full, so a label
//! called `result` or `option` never clashes with the prelude.

use crate::model::{Metric, MetricKind, Spec, Stability};
use crate::naming::{ident, pascal_case};
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

/// Options for Rust generation.
#[derive(Debug, Clone)]
pub struct RustOptions {
    /// Path of the runtime crate as seen from the generated code.
    pub runtime: String,
    /// Path of the crate that includes the generated `labels` and `spec` modules.
    pub generated: String,
}

impl Default for RustOptions {
    fn default() -> Self {
        RustOptions {
            runtime: "crate".into(),
            generated: "crate".into(),
        }
    }
}

/// The generated Rust sources, one per module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RustSources {
    /// Label enums (`labels` module).
    pub labels: String,
    /// Spec table and hashes (`spec` module).
    pub spec: String,
    /// Accessors (`metrics` module).
    pub metrics: String,
}

fn runtime_path(opts: &RustOptions) -> TokenStream {
    opts.runtime.parse().unwrap_or_else(|_| quote!(crate))
}

fn generated_path(opts: &RustOptions) -> TokenStream {
    opts.generated.parse().unwrap_or_else(|_| quote!(crate))
}

fn format(tokens: TokenStream) -> String {
    match syn::parse2::<syn::File>(tokens.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        // Unreachable for valid specs; fall back to the raw tokens so the compiler
        // shows the real problem instead of a panic in the build script.
        Err(_) => tokens.to_string(),
    }
}

/// Generate all three modules.
pub fn generate(
    spec: &Spec,
    sha256: &str,
    generator_version: &str,
    opts: &RustOptions,
) -> RustSources {
    RustSources {
        labels: format(labels(spec, opts)),
        spec: format(spec_table(spec, sha256, generator_version, opts)),
        metrics: format(accessors(spec, opts)),
    }
}

fn enum_ident(label: &str) -> proc_macro2::Ident {
    format_ident!("{}", pascal_case(label))
}

fn labels(spec: &Spec, opts: &RustOptions) -> TokenStream {
    let rt = runtime_path(opts);
    let enums = spec.labels.iter().filter_map(|l| {
        let values = l.values.as_ref()?;
        let name = enum_ident(&l.name.value);
        let label = &l.name.value;
        let variants: Vec<_> = values.iter().map(|v| format_ident!("{}", pascal_case(&v.value))).collect();
        let strs: Vec<&str> = values.iter().map(|v| v.value.as_str()).collect();
        let count = Literal::usize_unsuffixed(values.len());
        let doc = format!(" {} (label `{label}`).", l.help.trim_end_matches('.'));
        let values_doc = format!(
            " Values: {}.",
            strs.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
        );
        let variant_docs = strs.iter().map(|s| format!(" `{s}`"));
        let indexes = (0..values.len()).map(Literal::usize_unsuffixed);
        Some(quote! {
            #[doc = #doc]
            #[doc = ""]
            #[doc = #values_doc]
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
            pub enum #name {
                #( #[doc = #variant_docs] #variants, )*
            }

            impl #name {
                /// The label's name in Prometheus.
                pub const LABEL: &'static str = #label;
                /// Every value, in spec order.
                pub const ALL: [#name; #count] = [#( #name::#variants ),*];
                /// Every value as it appears in Prometheus, in spec order.
                pub const VALUES: [&'static str; #count] = [#( #strs ),*];

                /// The Prometheus label value.
                #[inline]
                pub const fn as_str(self) -> &'static str {
                    match self { #( #name::#variants => #strs, )* }
                }

                /// Position in [`Self::ALL`].
                #[inline]
                pub const fn index(self) -> usize {
                    match self { #( #name::#variants => #indexes, )* }
                }
            }

            impl ::core::fmt::Display for #name {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.write_str(self.as_str())
                }
            }

            impl ::core::str::FromStr for #name {
                type Err = #rt::UnknownLabelValue;
                fn from_str(s: &str) -> ::core::result::Result<Self, Self::Err> {
                    match s {
                        #( #strs => ::core::result::Result::Ok(#name::#variants), )*
                        _ => ::core::result::Result::Err(#rt::UnknownLabelValue::new(#label, s, &#name::VALUES)),
                    }
                }
            }
        })
    });
    quote! { #( #enums )* }
}

fn info_ident(m: &Metric, spec: &Spec) -> proc_macro2::Ident {
    format_ident!("INFO_{}", m.short_name(spec).to_ascii_uppercase())
}

fn spec_table(
    spec: &Spec,
    sha256: &str,
    generator_version: &str,
    opts: &RustOptions,
) -> TokenStream {
    let rt = runtime_path(opts);
    let hash = &sha256[..16.min(sha256.len())];
    let infos = spec.metrics().map(|(family, m)| {
        let id = info_ident(m, spec);
        let name = &m.name.value;
        let help = &m.help.value;
        let fam = &family.name.value;
        let kind = match m.kind.value {
            MetricKind::Counter if m.is_float_counter() => quote!(#rt::MetricKind::FloatCounter),
            MetricKind::Counter => quote!(#rt::MetricKind::Counter),
            MetricKind::Gauge => quote!(#rt::MetricKind::Gauge),
            MetricKind::Histogram => quote!(#rt::MetricKind::Histogram),
        };
        let unit = match &m.unit {
            Some(u) => {
                let u = &u.value;
                quote!(::core::option::Option::Some(#u))
            }
            None => quote!(::core::option::Option::None),
        };
        let labels = m.labels.iter().map(|l| {
            let lname = &l.value;
            match spec.closed_values(l) {
                Some(values) => {
                    let vs = values.iter().map(|v| v.value.as_str());
                    quote!(#rt::LabelInfo { name: #lname, values: ::core::option::Option::Some(&[#( #vs ),*]) })
                }
                None => quote!(#rt::LabelInfo { name: #lname, values: ::core::option::Option::None }),
            }
        });
        let budget = m.effective_budget(spec);
        let buckets = m.bucket_values().into_iter().map(Literal::f64_unsuffixed);
        let doc = format!(" Spec entry of `{name}`.");
        quote! {
            #[doc = #doc]
            pub static #id: #rt::MetricInfo = #rt::MetricInfo {
                name: #name,
                help: #help,
                kind: #kind,
                unit: #unit,
                family: #fam,
                labels: &[#( #labels ),*],
                budget: #budget,
                buckets: &[#( #buckets ),*],
            };
        }
    });
    let refs = spec.metrics().map(|(_, m)| info_ident(m, spec));
    let count = Literal::usize_unsuffixed(spec.metrics().count());
    let families = spec.families.iter().map(|f| f.name.value.as_str());
    let ns = &spec.namespace.value;
    quote! {
        /// First 16 hex characters of [`SPEC_SHA256`]: the spec's identity in metrics and artifacts.
        pub const SPEC_HASH: &str = #hash;
        /// SHA-256 of the canonical spec (keys sorted, comments and layout ignored).
        pub const SPEC_SHA256: &str = #sha256;
        /// Version of the generator that wrote this code and the artifacts.
        pub const GENERATOR_VERSION: &str = #generator_version;
        /// The spec's namespace (metric-name prefix without the underscore).
        pub const NAMESPACE: &str = #ns;
        /// Family names in spec order.
        pub const FAMILIES: &[&str] = &[#( #families ),*];
        #( #infos )*
        /// Every metric of the spec, in spec order.
        pub static METRICS: [&#rt::MetricInfo; #count] = [#( &#refs ),*];
    }
}

fn handle_type(m: &Metric, rt: &TokenStream) -> TokenStream {
    match m.kind.value {
        MetricKind::Counter if m.is_float_counter() => quote!(#rt::FloatCounter),
        MetricKind::Counter => quote!(#rt::Counter),
        MetricKind::Gauge => quote!(#rt::Gauge),
        MetricKind::Histogram => quote!(#rt::Histogram),
    }
}

fn accessor_doc(m: &Metric, spec: &Spec, family: &str) -> Vec<String> {
    let mut doc = vec![format!(" {}", m.help.value.trim())];
    doc.push(String::new());
    doc.push(format!(
        " * metric: `{}` ({})",
        m.name.value,
        m.kind.value.as_str()
    ));
    doc.push(format!(" * family: `{family}`"));
    if let Some(u) = &m.unit {
        doc.push(format!(" * unit: {}", u.value));
    }
    for l in &m.labels {
        match spec.closed_values(l) {
            Some(vs) => doc.push(format!(
                " * label `{}`: {}",
                l.value,
                vs.iter()
                    .map(|v| format!("`{}`", v.value))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            None => doc.push(format!(
                " * label `{}`: open (any string, guarded by the budget)",
                l.value
            )),
        }
    }
    doc.push(format!(
        " * cardinality budget: {}",
        m.effective_budget(spec)
    ));
    if m.kind.value == MetricKind::Histogram {
        let b: Vec<String> = m.bucket_values().iter().map(|v| format!("{v}")).collect();
        doc.push(format!(" * buckets: [{}]", b.join(", ")));
    }
    if let Some(r) = &m.renamed_from {
        doc.push(format!(" * renamed from `{}`", r.value));
    }
    doc
}

fn accessors(spec: &Spec, opts: &RustOptions) -> TokenStream {
    let rt = runtime_path(opts);
    let generated = generated_path(opts);
    let mut items = Vec::new();
    let mut inits = Vec::new();
    let mut sims = Vec::new();
    for (family, m) in spec.metrics() {
        let short = m.short_name(spec);
        let fn_name = ident(short);
        let info = info_ident(m, spec);
        let handle = handle_type(m, &rt);
        let docs = accessor_doc(m, spec, &family.name.value);
        let params: Vec<TokenStream> = m
            .labels
            .iter()
            .map(|l| {
                let p = ident(l);
                if spec.closed_values(l).is_some() {
                    let ty = enum_ident(l);
                    quote!(#p: #generated::labels::#ty)
                } else {
                    quote!(#p: &str)
                }
            })
            .collect();
        let store = format_ident!("{}", short.to_ascii_uppercase());
        if !m.name.value.ends_with("_info") {
            sims.push(simulate_metric(spec, m, &generated));
        }
        // Deprecation in the spec shows at every use site.
        let deprecated = if m.stability == Stability::Deprecated {
            let note = format!("`{}` is deprecated in the spec", m.name.value);
            quote!(#[deprecated(note = #note)])
        } else {
            quote!()
        };
        if m.fully_closed(spec) {
            // Mixed-radix index over the closed labels: no hashing, no lock.
            let mut index: Option<TokenStream> = None;
            for l in &m.labels {
                let p = ident(l);
                let n = Literal::usize_unsuffixed(spec.closed_values(l).map_or(1, |v| v.len()));
                index = Some(match index {
                    None => quote!(#p.index()),
                    Some(prev) => quote!((#prev) * #n + #p.index()),
                });
            }
            let index = index.unwrap_or_else(|| quote!(0));
            items.push(quote! {
                static #store: #rt::ClosedTable<#handle> = #rt::ClosedTable::new(&#generated::spec::#info);

                #( #[doc = #docs] )*
                #deprecated
                #[inline]
                pub fn #fn_name(#( #params ),*) -> &'static #handle {
                    #store.get(#index)
                }
            });
            inits.push(quote!(#store.init();));
        } else {
            let with_name = format_ident!("{}_with", short);
            let values = m.labels.iter().map(|l| {
                let p = ident(l);
                if spec.closed_values(l).is_some() {
                    quote!(#p.as_str())
                } else {
                    quote!(#p)
                }
            });
            let args: Vec<_> = m.labels.iter().map(|l| ident(l)).collect();
            let with_doc = format!(
                " Resolve the series of [`{short}`] once and keep the handle, e.g. outside a hot loop."
            );
            items.push(quote! {
                static #store: #rt::OpenFamily<#handle> = #rt::OpenFamily::new(&#generated::spec::#info);

                #( #[doc = #docs] )*
                #deprecated
                #[inline]
                pub fn #fn_name(#( #params ),*) -> &'static #handle {
                    #with_name(#( #args ),*)
                }

                #[doc = #with_doc]
                #[doc = ""]
                #[doc = " New label sets pass the cardinality guard once; later calls are a lookup."]
                #deprecated
                pub fn #with_name(#( #params ),*) -> &'static #handle {
                    #store.get(&[#( #values ),*])
                }
            });
            inits.push(quote!(#store.init();));
        }
    }
    quote! {
        #( #items )*

        /// Register every metric and create every closed-label series at zero, so
        /// dashboards have no gaps before the first event.
        pub fn init_all() {
            #( #inits )*
        }

        /// Drive every metric (except `*_info` provenance metrics) through its accessor
        /// with values the simulator picks: all closed label values, a few open ones.
        #[allow(deprecated)]
        pub fn simulate(sim: &mut #rt::Simulator) {
            #( #sims )*
        }
    }
}

/// One metric's part of `simulate`: nested loops over its label values around a call.
fn simulate_metric(spec: &Spec, m: &Metric, generated: &TokenStream) -> TokenStream {
    let info = info_ident(m, spec);
    let fn_name = ident(m.short_name(spec));
    let method = match m.kind.value {
        MetricKind::Counter if m.is_float_counter() => format_ident!("float_counter"),
        MetricKind::Counter => format_ident!("counter"),
        MetricKind::Gauge => format_ident!("gauge"),
        MetricKind::Histogram => format_ident!("histogram"),
    };
    let vars: Vec<proc_macro2::Ident> = (0..m.labels.len())
        .map(|i| format_ident!("l{}", i))
        .collect();
    let args = m.labels.iter().zip(&vars).map(|(l, v)| {
        if spec.closed_values(l).is_some() {
            quote!(*#v)
        } else {
            quote!(#v.as_str())
        }
    });
    let mut body = quote!(sim.#method(&#generated::spec::#info, #fn_name(#( #args ),*)););
    for (l, v) in m.labels.iter().zip(&vars).rev() {
        body = match spec.closed_values(l) {
            Some(_) => {
                let ty = enum_ident(l);
                quote!(for #v in #generated::labels::#ty::ALL.iter() { #body })
            }
            None => quote!(for #v in sim.open_values(&#generated::spec::#info).iter() { #body }),
        };
    }
    body
}
