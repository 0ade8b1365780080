//! `/v1/orgs`: organizations, their members and invitations (SPEC §9, docs/orgs.md).
//!
//! Who may do what is decided here and only here, from the caller's role in the org:
//! the owner everything; an admin invites, changes roles between member and admin,
//! removes members and admins; a member views and may leave. Someone who is not a
//! member gets 404 for everything about an org, so an org's existence never leaks.
//! An org is on its owner's plan, read live: `max_orgs` caps the orgs a user owns,
//! `max_members_per_org` the members plus pending invitations of an org.

use super::auth_routes::normalize_email;
use super::body::{JsonObject, PathPair, PathParam};
use super::types::{
    InvitationView, InviteRequest, Invited, MemberView, OrgCreateRequest, OrgDetail, OrgView, RequestBody, RoleRequest,
};
use super::{ApiError, CurrentUser};
use crate::clock::rfc3339;
use crate::server::SharedState;
use crate::store::{Invitation, Member, OrgOfUser, OrgOwner, OrgRole, StoreError};
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Json;

const MAX_NAME_CHARS: usize = 100;
pub const MAX_SLUG_CHARS: usize = 50;

pub async fn create(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
    body: JsonObject,
) -> Result<(StatusCode, Json<OrgView>), ApiError> {
    body.only(OrgCreateRequest::FIELDS)?;
    let name = body.required_string("name")?.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::unprocessable(format!("`name` must be 1 to {MAX_NAME_CHARS} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::unprocessable("`name` must not contain control characters (line breaks, tabs, …)"));
    }
    let slug = match body.string("slug")? {
        Some(given) => check_slug(given)?.to_owned(),
        None => derive_slug(name).ok_or_else(|| {
            ApiError::unprocessable(format!(
                "cannot derive a slug from the name {name:?} (it has no letters or digits); give `slug`: {SLUG_RULE}"
            ))
        })?,
    };
    let limits = state.config.plans.limits(&me.user.plan);
    let owned = state.store.count_owned_orgs(&me.user.id).await?;
    if owned >= i64::from(limits.max_orgs) {
        return Err(ApiError::forbidden(format!(
            "the {} plan allows {} organizations and you own {owned}; upgrade the plan to create one",
            me.user.plan, limits.max_orgs
        )));
    }
    let org = match state.store.create_org(name, &slug, &me.user.id).await {
        Err(StoreError::Conflict) => {
            return Err(ApiError::conflict(format!("the slug {slug:?} is taken; choose another `slug`")));
        }
        other => other?,
    };
    tracing::info!(org_id = %org.id, "organization created");
    let view = OrgOfUser { org, role: OrgRole::Owner, member_count: 1, plan: me.user.plan.clone() };
    Ok((StatusCode::CREATED, Json(org_json(&view))))
}

pub async fn list(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
) -> Result<Json<Vec<OrgView>>, ApiError> {
    Ok(Json(state.store.orgs_of_user(&me.user.id).await?.iter().map(org_json).collect()))
}

pub async fn get(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
    PathParam(id): PathParam,
) -> Result<Json<OrgDetail>, ApiError> {
    let org = state.store.org_of_member(&id, &me.user.id).await?.ok_or_else(org_not_found)?;
    let members = state.store.org_members(&id).await?;
    let invitations = state.store.org_invitations(&id).await?;
    Ok(Json(OrgDetail {
        org: org_json(&org),
        members: members.iter().map(member_json).collect(),
        invitations: invitations.iter().map(invitation_json).collect(),
    }))
}

pub async fn invite(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
    PathParam(id): PathParam,
    body: JsonObject,
) -> Result<(StatusCode, Json<Invited>), ApiError> {
    let role = require_member(&state, &me, &id).await?;
    require_manager(role, "inviting members")?;
    body.only(InviteRequest::FIELDS)?;
    let email = normalize_email(body.required_string("email")?)?;
    let new_role = match body.string("role")? {
        None | Some("member") => OrgRole::Member,
        Some("admin") => OrgRole::Admin,
        Some(other) => {
            return Err(ApiError::unprocessable(format!(
                "`role` must be member or admin, not {other:?}; to make someone the owner, invite them, then \
                 PATCH their role to owner"
            )));
        }
    };
    let owner = org_owner(&state, &id).await?;
    let limit = state.config.plans.limits(&owner.plan).max_members_per_org;
    if state.store.org_seats_taken(&id).await? >= i64::from(limit) {
        return Err(ApiError::forbidden(format!(
            "the org is on its owner's {} plan, which allows {limit} members per organization (pending \
             invitations count); remove a member or an invitation, or the owner upgrades the plan",
            owner.plan
        )));
    }
    let already_member = || ApiError::conflict(format!("{email} is already a member of this organization"));
    if let Some(user) = state.store.user_by_email(&email).await? {
        let member = match state.store.add_org_member(&id, &user.id, new_role).await {
            Err(StoreError::Conflict) => return Err(already_member()),
            other => other?,
        };
        return Ok((StatusCode::CREATED, Json(Invited::Member(member_json(&member)))));
    }
    let invitation = match state.store.invite_to_org(&id, &email, new_role, &me.user.id).await {
        Err(StoreError::Conflict) => {
            return Err(ApiError::conflict(format!("{email} is already invited to this organization")));
        }
        other => other?,
    };
    // The account may have been created between the look-up and the insert, after its
    // sign-up claimed the invitations that existed then: claim this one now.
    if let Some(user) = state.store.user_by_email(&email).await?
        && state.store.delete_org_invitation(&id, &invitation.id).await?
    {
        let member = match state.store.add_org_member(&id, &user.id, new_role).await {
            Err(StoreError::Conflict) => return Err(already_member()),
            other => other?,
        };
        return Ok((StatusCode::CREATED, Json(Invited::Member(member_json(&member)))));
    }
    Ok((StatusCode::CREATED, Json(Invited::Invitation(invitation_json(&invitation)))))
}

pub async fn set_role(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
    PathPair(id, user_id): PathPair,
    body: JsonObject,
) -> Result<Json<MemberView>, ApiError> {
    let role = require_member(&state, &me, &id).await?;
    require_manager(role, "changing roles")?;
    body.only(RoleRequest::FIELDS)?;
    let new_role: OrgRole =
        body.required_string("role")?.parse().map_err(|e| ApiError::unprocessable(format!("`role`: {e}")))?;
    let target = state.store.org_member(&id, &user_id).await?.ok_or_else(member_not_found)?;
    if target.role == OrgRole::Owner {
        return match (role, new_role) {
            (OrgRole::Owner, OrgRole::Owner) => Ok(Json(member_json(&target))),
            (OrgRole::Owner, _) => Err(ApiError::conflict(
                "you are the owner: transfer ownership first (PATCH another member's role to owner); you then \
                 become an admin",
            )),
            _ => Err(ApiError::forbidden(
                "the owner's role cannot be changed by others; only the owner can transfer ownership",
            )),
        };
    }
    if new_role == OrgRole::Owner {
        if role != OrgRole::Owner {
            return Err(ApiError::forbidden("transferring ownership needs the owner role; ask the owner"));
        }
        return transfer(&state, &me, &id, &target).await;
    }
    if !state.store.set_org_role(&id, &user_id, new_role).await? {
        return Err(member_not_found());
    }
    let member = state.store.org_member(&id, &user_id).await?.ok_or_else(member_not_found)?;
    Ok(Json(member_json(&member)))
}

/// Makes `target` the owner; the caller (the owner) becomes an admin. The new owner's
/// plan must allow one more owned org, since the org moves onto that plan.
async fn transfer(
    state: &SharedState,
    me: &CurrentUser,
    id: &str,
    target: &Member,
) -> Result<Json<MemberView>, ApiError> {
    let new_owner = state.store.user_by_id(&target.user_id).await?.ok_or_else(member_not_found)?;
    let max_orgs = state.config.plans.limits(&new_owner.plan).max_orgs;
    if state.store.count_owned_orgs(&new_owner.id).await? >= i64::from(max_orgs) {
        return Err(ApiError::forbidden(format!(
            "{}'s {} plan allows {max_orgs} owned organizations and has no room for this one; they upgrade \
             first, or choose another member",
            new_owner.email, new_owner.plan
        )));
    }
    if !state.store.transfer_org(id, &me.user.id, &new_owner.id).await? {
        return Err(ApiError::conflict("the membership changed meanwhile; reload the organization and retry"));
    }
    tracing::info!(org_id = %id, "organization ownership transferred");
    // This instance's cached keys of the org move to the new owner's plan now; other
    // instances follow through the cache sync (orgs.updated_at moved).
    state.keys.apply_org_owner(&OrgOwner {
        org_id: id.to_owned(),
        user_id: new_owner.id.clone(),
        plan: new_owner.plan.clone(),
    });
    let member = state.store.org_member(id, &new_owner.id).await?.ok_or_else(member_not_found)?;
    Ok(Json(member_json(&member)))
}

pub async fn remove_member(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
    PathPair(id, user_id): PathPair,
) -> Result<StatusCode, ApiError> {
    let role = require_member(&state, &me, &id).await?;
    if user_id == me.user.id {
        return leave_org(&state, &id, &me, role).await;
    }
    require_manager(role, "removing members")?;
    let target = state.store.org_member(&id, &user_id).await?.ok_or_else(member_not_found)?;
    if target.role == OrgRole::Owner {
        return Err(ApiError::forbidden(
            "the owner cannot be removed; the owner may transfer ownership and then leave",
        ));
    }
    // The org's keys stay: they belong to the org, not to whoever created them.
    if !state.store.remove_org_member(&id, &user_id).await? {
        return Err(member_not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn delete_invitation(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
    PathPair(id, invitation_id): PathPair,
) -> Result<StatusCode, ApiError> {
    let role = require_member(&state, &me, &id).await?;
    require_manager(role, "withdrawing invitations")?;
    if !state.store.delete_org_invitation(&id, &invitation_id).await? {
        return Err(ApiError::not_found("invitation not found in this organization (it may have been accepted)"));
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn leave(
    State(state): State<SharedState>,
    Extension(me): Extension<CurrentUser>,
    PathParam(id): PathParam,
) -> Result<StatusCode, ApiError> {
    let role = require_member(&state, &me, &id).await?;
    leave_org(&state, &id, &me, role).await
}

async fn leave_org(state: &SharedState, id: &str, me: &CurrentUser, role: OrgRole) -> Result<StatusCode, ApiError> {
    if role == OrgRole::Owner {
        return Err(ApiError::conflict(
            "you own this organization: transfer ownership first (PATCH another member's role to owner), then leave",
        ));
    }
    if !state.store.remove_org_member(id, &me.user.id).await? {
        return Err(org_not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's role in the org; 404 when they are not a member (or it does not exist).
pub async fn require_member(state: &SharedState, me: &CurrentUser, org_id: &str) -> Result<OrgRole, ApiError> {
    state.store.org_role(org_id, &me.user.id).await?.ok_or_else(org_not_found)
}

/// Refuses a member what only the owner or an admin may do, naming the role needed.
pub fn require_manager(role: OrgRole, action: &str) -> Result<(), ApiError> {
    if role.manages() {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "{action} needs the owner or admin role in this organization; your role is {}",
            role.as_str()
        )))
    }
}

/// The org's owner and so its plan.
pub async fn org_owner(state: &SharedState, org_id: &str) -> Result<OrgOwner, ApiError> {
    state.store.org_owner(org_id).await?.ok_or_else(org_not_found)
}

fn org_not_found() -> ApiError {
    ApiError::not_found("organization not found, or you are not a member of it")
}

fn member_not_found() -> ApiError {
    ApiError::not_found("no member with this user id in this organization")
}

const SLUG_RULE: &str =
    "1 to 50 characters: lower-case letters a-z, digits, '-' and '_', starting with a letter or digit";

fn check_slug(slug: &str) -> Result<&str, ApiError> {
    let ok = !slug.is_empty()
        && slug.len() <= MAX_SLUG_CHARS
        && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && slug.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
    if ok { Ok(slug) } else { Err(ApiError::unprocessable(format!("`slug` {slug:?} is not allowed: {SLUG_RULE}"))) }
}

/// The slug SPEC §9 derives from a name: lower-cased, characters other than word
/// characters (ASCII letters, digits, `_`), spaces and hyphens stripped, runs of spaces
/// turned into one hyphen, at most 50 characters. Leading and trailing hyphens are
/// dropped so the result is a valid slug; `None` when nothing is left.
pub fn derive_slug(name: &str) -> Option<String> {
    let mut slug = String::new();
    let mut pending_hyphen = false;
    for c in name.to_lowercase().chars() {
        if c.is_whitespace() || c == '-' {
            pending_hyphen = !slug.is_empty();
        } else if c.is_ascii_alphanumeric() || c == '_' {
            if pending_hyphen {
                slug.push('-');
                pending_hyphen = false;
            }
            slug.push(c);
        }
    }
    slug.truncate(MAX_SLUG_CHARS);
    let slug = slug.trim_end_matches('-').trim_start_matches(['-', '_']);
    (!slug.is_empty()).then(|| slug.to_owned())
}

fn org_json(o: &OrgOfUser) -> OrgView {
    OrgView {
        id: o.org.id.clone(),
        name: o.org.name.clone(),
        slug: o.org.slug.clone(),
        role: o.role.as_str(),
        plan: o.plan.clone(),
        created_at: rfc3339(o.org.created_at),
        member_count: o.member_count,
    }
}

fn member_json(m: &Member) -> MemberView {
    MemberView {
        user_id: m.user_id.clone(),
        email: m.email.clone(),
        role: m.role.as_str(),
        joined_at: rfc3339(m.joined_at),
    }
}

fn invitation_json(i: &Invitation) -> InvitationView {
    InvitationView {
        id: i.id.clone(),
        email: i.email.clone(),
        role: i.role.as_str(),
        created_at: rfc3339(i.created_at),
    }
}

#[cfg(test)]
mod tests {
    use super::derive_slug;

    #[test]
    fn slugs_follow_the_spec() {
        assert_eq!(derive_slug("Acme Corp").as_deref(), Some("acme-corp"));
        assert_eq!(derive_slug("  Hello,   World! ").as_deref(), Some("hello-world"));
        assert_eq!(derive_slug("R&D — Team_2").as_deref(), Some("rd-team_2"));
        assert_eq!(derive_slug("!!!"), None);
        assert_eq!(derive_slug("Ünïcode"), Some("ncode".to_owned()));
        let long = derive_slug(&"word ".repeat(20)).unwrap();
        assert!(long.len() <= 50 && !long.ends_with('-'), "{long}");
    }
}
