//! A household's photos on its console page: thumbnails linking to the full photo, with the
//! kind. A bank card's or ID card's photo is masked as an ID number is: shown only on the
//! page revealed by a role that may see sensitive fields (audited), each read of it audited
//! again; everyone else sees a placeholder that says why.

use super::frame::Lang;
use super::guard::Reader;
use super::page::{ConsoleError, PageResult};
use crate::access::privacy::Sight;
use crate::access::roles::Permission;
use crate::http::AppState;
use crate::http::photos::{jpeg, photo_hash, variant};
use crate::http::principal;
use crate::http::register::household_in_scope;
use crate::ingest::photos;
use crate::storage::photos::stored_among;
use axum::extract::{Path, Query, State};
use schema::Message;
use schema::layout::{self, PhotoReference};
use serde::Deserialize;

/// One photo as the page shows it.
#[derive(Debug)]
pub struct PhotoTile {
    pub kind: String,
    /// The thumbnail's and the full photo's addresses; `None` when the photo is masked or
    /// not uploaded yet.
    pub thumb: Option<String>,
    pub full: Option<String>,
    /// Why there is no thumbnail.
    pub placeholder: Option<String>,
    /// Whether the placeholder hides a photo (rather than waiting for one).
    pub masked: bool,
}

/// The tiles of a household's photos, for a reader with `sight`.
pub async fn tiles(
    state: &AppState,
    household: &str,
    references: Vec<PhotoReference>,
    sight: Sight,
    may_reveal: bool,
    lang: Lang,
) -> Result<Vec<PhotoTile>, ConsoleError> {
    let hashes: Vec<_> = references.iter().map(|r| r.hash.clone()).collect();
    let stored = stored_among(state.ledger.db(), &hashes).await?;
    Ok(references
        .into_iter()
        .map(|reference| {
            let label = reference
                .kind
                .map_or_else(|| "?".to_owned(), |kind| lang.msg(&kind.label()).to_owned());
            let sensitive = reference.kind.is_none_or(|kind| kind.is_sensitive());
            let uploaded = stored.iter().any(|photo| photo.hash == reference.hash);
            let address = |size: &str| {
                format!(
                    "/register/{household}/photos/{}?size={size}",
                    reference.hash
                )
            };
            let placeholder = if sensitive && !sight.reveals() {
                Some(if may_reveal {
                    Message::new(
                        format!("{label}照片已遮盖：点击“显示完整信息”后可见（记入审计日志）"),
                        format!(
                            "The {label} photo is masked: shown after \"Show in full\" (audited)"
                        ),
                    )
                } else {
                    Message::new(
                        format!("{label}照片已遮盖：您的角色不能查看银行卡、身份证等敏感照片"),
                        format!(
                            "The {label} photo is masked: your role may not see bank cards, ID cards and other sensitive photos"
                        ),
                    )
                })
            } else if !uploaded {
                Some(Message::new("照片尚未上传", "Not uploaded yet"))
            } else {
                None
            };
            let shown = placeholder.is_none();
            PhotoTile {
                masked: sensitive && !sight.reveals(),
                thumb: shown.then(|| address("thumb")),
                full: shown.then(|| address("full")),
                placeholder: placeholder.map(|message| lang.msg(&message).to_owned()),
                kind: label,
            }
        })
        .collect())
}

#[derive(Debug, Deserialize)]
pub struct PhotoParams {
    #[serde(default)]
    size: Option<String>,
}

/// `GET /register/{id}/photos/{hash}?size=thumb|full`: one photo of a household in the
/// reader's area that its document references. A sensitive kind only for a role that may
/// reveal, audited.
pub async fn photo(
    State(state): State<AppState>,
    reader: Reader,
    Path((id, hash)): Path<(String, String)>,
    Query(params): Query<PhotoParams>,
) -> PageResult {
    let action = "register.read";
    reader
        .must(&state, Permission::ReadRegister, action)
        .await?;
    let hash = photo_hash(&hash)?;
    let variant = variant(params.size.as_deref())?;
    let (_, references) = household_in_scope(
        &state,
        &reader.staff,
        &reader.client,
        &id,
        action,
        |_, view| layout::photo_references(&view),
    )
    .await?;
    let Some(reference) = references.into_iter().find(|r| r.hash == hash) else {
        return Err(ConsoleError::forbidden(Message::new(
            "该户的档案没有这张照片",
            "This household's document holds no such photo",
        )));
    };
    let target = format!("{id}/photos/{hash}");
    if reference.kind.is_none_or(|kind| kind.is_sensitive()) {
        // Asked for in full: refused (and audited) for a role that may not, audited for one
        // that may.
        principal::sight(&state, &reader.staff, &reader.client, true, &target).await?;
    }
    let (_, bytes) = photos::read(&state.ledger, &state.blobs, &hash, variant)
        .await
        .map_err(crate::http::error::ApiError::from)?;
    Ok(jpeg(bytes))
}
