//! Procedural macros of the g6-metrics engine.
//!
//! `#[safe_emit]` wraps an emission function so that a panic or an `Err` inside it never
//! reaches the caller: the failure is counted in
//! `<namespace>_emission_failures_total{emitter}`, the first one per emitter also in
//! `<namespace>_emission_failure_once_total{emitter}`, and logged (rate-limited). The
//! expansion calls `::g6_runtime::emission`, so the crate using it depends on
//! `g6-runtime` (as any crate with generated metrics does).

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, GenericArgument, Lit, Meta, PathArguments, ReturnType, Token, Type};

/// Make an emission function failure-proof.
///
/// Supported signatures (sync or `async`, free functions or methods):
///
/// | declared return | on panic / `Err` the caller gets |
/// |---|---|
/// | `()` (none) | `()` |
/// | `Option<T>` | `None` (a `None` from the body is not a failure) |
/// | `Result<T, E>` | the function returns `Option<T>` instead: `Some(v)` for `Ok(v)`, `None` for `Err` or panic |
///
/// `Result` turns into `Option` because an error must not propagate to the caller: the
/// error is recorded (with its `Debug` form) and the caller sees only whether a value
/// came back.
///
/// The emitter label defaults to `module_path::fn_name`; set it with
/// `#[safe_emit(emitter = "name")]`.
#[proc_macro_attribute]
pub fn safe_emit(args: TokenStream, item: TokenStream) -> TokenStream {
    match expand(args.into(), item.into()) {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

enum Returns {
    Unit,
    Option,
    Result(Box<Type>),
}

fn parse_emitter(args: TokenStream2) -> syn::Result<Option<syn::LitStr>> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
    let mut emitter = None;
    for meta in metas {
        match &meta {
            Meta::NameValue(nv) if nv.path.is_ident("emitter") => {
                let Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) = &nv.value
                else {
                    return Err(syn::Error::new(
                        nv.value.span(),
                        "`emitter` takes a string literal, e.g. #[safe_emit(emitter = \"chain::publish\")]",
                    ));
                };
                if s.value().trim().is_empty() {
                    return Err(syn::Error::new(s.span(), "`emitter` must not be empty"));
                }
                if emitter.is_some() {
                    return Err(syn::Error::new(meta.span(), "`emitter` is given twice"));
                }
                emitter = Some(s.clone());
            }
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    "unknown argument; #[safe_emit] takes only `emitter = \"...\"`",
                ))
            }
        }
    }
    Ok(emitter)
}

fn last_segment(ty: &Type) -> Option<(&syn::Ident, &PathArguments)> {
    match ty {
        Type::Path(p) if p.qself.is_none() => {
            p.path.segments.last().map(|s| (&s.ident, &s.arguments))
        }
        _ => None,
    }
}

fn classify(output: &ReturnType) -> syn::Result<Returns> {
    let ty = match output {
        ReturnType::Default => return Ok(Returns::Unit),
        ReturnType::Type(_, ty) => ty,
    };
    if let Type::Tuple(t) = &**ty {
        if t.elems.is_empty() {
            return Ok(Returns::Unit);
        }
    }
    if let Some((ident, args)) = last_segment(ty) {
        if ident == "Option" {
            return Ok(Returns::Option);
        }
        if ident == "Result" {
            if let PathArguments::AngleBracketed(a) = args {
                if let Some(GenericArgument::Type(ok)) = a.args.first() {
                    if a.args.len() == 2 {
                        return Ok(Returns::Result(Box::new(ok.clone())));
                    }
                }
            }
            return Err(syn::Error::new(
                ty.span(),
                "#[safe_emit] needs the full `Result<T, E>` form (a Result alias with one parameter hides the error type)",
            ));
        }
    }
    Err(syn::Error::new(
        ty.span(),
        "#[safe_emit] supports functions returning `()`, `Option<T>` or `Result<T, E>`; a failure must have a value that means \"nothing was emitted\"",
    ))
}

fn expand(args: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let emitter = parse_emitter(args)?;
    let mut f: syn::ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            let span = syn::parse2::<syn::Item>(item)
                .map(|i| i.span())
                .unwrap_or_else(|_| Span::call_site());
            return Err(syn::Error::new(
                span,
                "#[safe_emit] goes on a function (fn or async fn)",
            ));
        }
    };
    if let Some(c) = &f.sig.constness {
        return Err(syn::Error::new(
            c.span(),
            "#[safe_emit] cannot wrap a `const fn`",
        ));
    }
    let returns = classify(&f.sig.output)?;
    // The declared return type pins the body's type, so `?` and `return` keep their meaning.
    let ret_ty = match &f.sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => quote!(#ty),
    };
    let name = f.sig.ident.to_string();
    let emitter = match emitter {
        Some(s) => quote!(#s),
        None => quote!(::core::concat!(::core::module_path!(), "::", #name)),
    };
    let body = &f.block;
    let is_async = f.sig.asyncness.is_some();
    let span = f.sig.output.span();
    let caught = if is_async {
        quote_spanned! {span=> ::g6_runtime::emission::catch_unwind_future::<_, #ret_ty>(async move #body).await }
    } else {
        quote_spanned! {span=> ::g6_runtime::emission::catch_unwind(move || -> #ret_ty #body) }
    };
    let handled = match &returns {
        Returns::Unit => quote! {
            match #caught {
                ::core::result::Result::Ok(v) => v,
                ::core::result::Result::Err(p) => ::g6_runtime::emission::record_panic(__G6_EMITTER, p),
            }
        },
        Returns::Option => quote! {
            match #caught {
                ::core::result::Result::Ok(v) => v,
                ::core::result::Result::Err(p) => {
                    ::g6_runtime::emission::record_panic(__G6_EMITTER, p);
                    ::core::option::Option::None
                }
            }
        },
        Returns::Result(ok) => {
            f.sig.output = syn::parse_quote_spanned!(span=> -> ::core::option::Option<#ok>);
            quote! {
                match #caught {
                    ::core::result::Result::Ok(::core::result::Result::Ok(v)) => ::core::option::Option::Some(v),
                    ::core::result::Result::Ok(::core::result::Result::Err(e)) => {
                        ::g6_runtime::emission::record_error(__G6_EMITTER, &e);
                        ::core::option::Option::None
                    }
                    ::core::result::Result::Err(p) => {
                        ::g6_runtime::emission::record_panic(__G6_EMITTER, p);
                        ::core::option::Option::None
                    }
                }
            }
        }
    };
    // The emitter's failure series exist at zero from its first call (warm), so a
    // rate over them reads 0 rather than nothing; one relaxed load per call after.
    *f.block = syn::parse_quote!({
        const __G6_EMITTER: &str = #emitter;
        static __G6_WARM: ::core::sync::atomic::AtomicBool =
            ::core::sync::atomic::AtomicBool::new(false);
        if !__G6_WARM.load(::core::sync::atomic::Ordering::Relaxed) {
            __G6_WARM.store(true, ::core::sync::atomic::Ordering::Relaxed);
            ::g6_runtime::emission::warm(__G6_EMITTER);
        }
        #handled
    });
    Ok(quote!(#f))
}
