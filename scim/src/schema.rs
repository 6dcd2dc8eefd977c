//! Attribute definitions (RFC 7643 §2, §4, §7, §8.7.1) for the resources this crate serves:
//! the core User (with a write-only `password`, without `groups`), the Enterprise User extension, the e2ei
//! User extension and the core Group, plus the common attributes `id`, `externalId`, `meta`.

use crate::filter::AttrPath;

/// SCIM core User schema URN (RFC 7643 §4.1).
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Enterprise User extension URN (RFC 7643 §4.3).
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// The e2ei User extension URN: the Wire team and handle a SCIM user maps to.
pub const E2EI_USER_SCHEMA: &str = "urn:e2ei:params:scim:schemas:extension:e2ei:2.0:User";
/// SCIM core Group schema URN (RFC 7643 §4.2).
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// The two resource types served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// `/Users`, schema [`USER_SCHEMA`].
    User,
    /// `/Groups`, schema [`GROUP_SCHEMA`].
    Group,
}

impl ResourceKind {
    /// The resource type name (`User`, `Group`), as in `meta.resourceType`.
    pub fn name(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Group => "Group",
        }
    }

    /// The endpoint, relative to the SCIM base URL (`/Users`, `/Groups`).
    pub fn endpoint(self) -> &'static str {
        match self {
            Self::User => "/Users",
            Self::Group => "/Groups",
        }
    }

    /// The schema of this resource type.
    pub fn schema(self) -> &'static ResourceSchema {
        match self {
            Self::User => &USER,
            Self::Group => &GROUP,
        }
    }
}

/// An attribute's data type (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    /// `string`
    String,
    /// `boolean`
    Boolean,
    /// `decimal`
    Decimal,
    /// `integer`
    Integer,
    /// `dateTime` (xsd:dateTime, RFC 3339 on the wire)
    DateTime,
    /// `reference`
    Reference,
    /// `complex`
    Complex,
    /// `binary` (base64)
    Binary,
}

impl AttrType {
    /// The name used in schema documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::Decimal => "decimal",
            Self::Integer => "integer",
            Self::DateTime => "dateTime",
            Self::Reference => "reference",
            Self::Complex => "complex",
            Self::Binary => "binary",
        }
    }
}

/// When an attribute may be changed (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    /// Set by the service provider only.
    ReadOnly,
    /// Freely updated.
    ReadWrite,
    /// Set once (on creation or when first added), never changed afterwards.
    Immutable,
    /// Written, never returned.
    WriteOnly,
}

impl Mutability {
    /// The name used in schema documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadOnly => "readOnly",
            Self::ReadWrite => "readWrite",
            Self::Immutable => "immutable",
            Self::WriteOnly => "writeOnly",
        }
    }
}

/// When an attribute is returned (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    /// Always, whatever `attributes`/`excludedAttributes` say.
    Always,
    /// Never.
    Never,
    /// Unless excluded.
    Default,
    /// Only when named in `attributes`.
    Request,
}

impl Returned {
    /// The name used in schema documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::Never => "never",
            Self::Default => "default",
            Self::Request => "request",
        }
    }
}

/// How unique an attribute's value is (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    /// No constraint.
    None,
    /// Unique within the service provider (here: within a tenant).
    Server,
    /// Globally unique.
    Global,
}

impl Uniqueness {
    /// The name used in schema documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Server => "server",
            Self::Global => "global",
        }
    }
}

/// One attribute definition (RFC 7643 §7).
#[derive(Debug, Clone, Copy)]
pub struct AttributeDef {
    /// The attribute name, in its canonical case.
    pub name: &'static str,
    /// The data type.
    pub ty: AttrType,
    /// Whether the attribute holds an array of values.
    pub multi_valued: bool,
    /// A human-readable description.
    pub description: &'static str,
    /// Whether a resource must carry it.
    pub required: bool,
    /// Whether string comparisons are case-sensitive.
    pub case_exact: bool,
    /// When it may change.
    pub mutability: Mutability,
    /// When it is returned.
    pub returned: Returned,
    /// Uniqueness constraint.
    pub uniqueness: Uniqueness,
    /// Suggested values (informative).
    pub canonical_values: &'static [&'static str],
    /// Sub-attributes of a complex attribute.
    pub sub_attributes: &'static [AttributeDef],
    /// For references: what they point to.
    pub reference_types: &'static [&'static str],
}

impl AttributeDef {
    const fn new(name: &'static str, ty: AttrType, description: &'static str) -> Self {
        Self {
            name,
            ty,
            multi_valued: false,
            description,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: &[],
            sub_attributes: &[],
            reference_types: &[],
        }
    }
    const fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    const fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    const fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }
    const fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }
    const fn unique(mut self, u: Uniqueness) -> Self {
        self.uniqueness = u;
        self
    }
    const fn canonical(mut self, v: &'static [&'static str]) -> Self {
        self.canonical_values = v;
        self
    }
    const fn subs(mut self, s: &'static [AttributeDef]) -> Self {
        self.sub_attributes = s;
        self
    }
    const fn refs(mut self, r: &'static [&'static str]) -> Self {
        self.reference_types = r;
        self
    }

    /// The sub-attribute named `name` (case-insensitive).
    pub fn sub_attribute(&self, name: &str) -> Option<&'static AttributeDef> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// A schema: its URN and top-level attributes (RFC 7643 §7).
#[derive(Debug)]
pub struct SchemaDef {
    /// The schema URN.
    pub id: &'static str,
    /// Its name.
    pub name: &'static str,
    /// Its description.
    pub description: &'static str,
    /// Its attributes.
    pub attributes: &'static [AttributeDef],
}

impl SchemaDef {
    /// The attribute named `name` (case-insensitive).
    pub fn attribute(&self, name: &str) -> Option<&'static AttributeDef> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

use AttrType as T;
use Mutability as M;

const fn s(name: &'static str, description: &'static str) -> AttributeDef {
    AttributeDef::new(name, T::String, description)
}

const MULTI_SUBS: &[AttributeDef] = &[
    s("value", "The attribute's significant value."),
    s(
        "display",
        "A human-readable name, primarily used for display purposes.",
    ),
    s("type", "A label indicating the attribute's function."),
    AttributeDef::new("primary", T::Boolean, "Whether this is the primary value."),
];
const EMAIL_SUBS: &[AttributeDef] = &[
    s("value", "Email address for the user."),
    s(
        "display",
        "A human-readable name, primarily used for display purposes.",
    ),
    s("type", "A label indicating the attribute's function.").canonical(&["work", "home", "other"]),
    AttributeDef::new(
        "primary",
        T::Boolean,
        "Whether this is the primary email address.",
    ),
];
const PHONE_SUBS: &[AttributeDef] = &[
    s("value", "Phone number of the user."),
    s(
        "display",
        "A human-readable name, primarily used for display purposes.",
    ),
    s("type", "A label indicating the attribute's function.")
        .canonical(&["work", "home", "mobile", "fax", "pager", "other"]),
    AttributeDef::new(
        "primary",
        T::Boolean,
        "Whether this is the primary phone number.",
    ),
];
const IM_SUBS: &[AttributeDef] = &[
    s("value", "Instant messaging address for the user."),
    s(
        "display",
        "A human-readable name, primarily used for display purposes.",
    ),
    s("type", "A label indicating the attribute's function.")
        .canonical(&["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]),
    AttributeDef::new(
        "primary",
        T::Boolean,
        "Whether this is the primary instant messaging address.",
    ),
];
const PHOTO_SUBS: &[AttributeDef] = &[
    AttributeDef::new("value", T::Reference, "URL of a photo of the user.").refs(&["external"]),
    s(
        "display",
        "A human-readable name, primarily used for display purposes.",
    ),
    s("type", "A label indicating the attribute's function.").canonical(&["photo", "thumbnail"]),
    AttributeDef::new("primary", T::Boolean, "Whether this is the primary photo."),
];
const ADDRESS_SUBS: &[AttributeDef] = &[
    s(
        "formatted",
        "The full mailing address, formatted for display or use with a mailing label.",
    ),
    s("streetAddress", "The full street address component."),
    s("locality", "The city or locality component."),
    s("region", "The state or region component."),
    s("postalCode", "The zip code or postal code component."),
    s(
        "country",
        "The country name component (ISO 3166-1 alpha-2).",
    ),
    s("type", "A label indicating the attribute's function.").canonical(&["work", "home", "other"]),
    AttributeDef::new(
        "primary",
        T::Boolean,
        "Whether this is the primary address.",
    ),
];
const CERT_SUBS: &[AttributeDef] = &[
    AttributeDef::new(
        "value",
        T::Binary,
        "The value of an X.509 certificate (base64 DER).",
    )
    .case_exact(),
    s(
        "display",
        "A human-readable name, primarily used for display purposes.",
    ),
    s("type", "A label indicating the attribute's function."),
    AttributeDef::new(
        "primary",
        T::Boolean,
        "Whether this is the primary certificate.",
    ),
];
const NAME_SUBS: &[AttributeDef] = &[
    s(
        "formatted",
        "The full name, including all middle names, titles, and suffixes, formatted for display.",
    ),
    s("familyName", "The family name of the User, or last name."),
    s("givenName", "The given name of the User, or first name."),
    s("middleName", "The middle name(s) of the User."),
    s(
        "honorificPrefix",
        "The honorific prefix(es) of the User, or title.",
    ),
    s("honorificSuffix", "The honorific suffix(es) of the User."),
];
const META_SUBS: &[AttributeDef] = &[
    s(
        "resourceType",
        "The name of the resource type of the resource.",
    )
    .case_exact()
    .mutability(M::ReadOnly),
    AttributeDef::new(
        "created",
        T::DateTime,
        "When the resource was added to the service provider.",
    )
    .mutability(M::ReadOnly),
    AttributeDef::new(
        "lastModified",
        T::DateTime,
        "When the resource was last modified.",
    )
    .mutability(M::ReadOnly),
    AttributeDef::new(
        "location",
        T::Reference,
        "The URI of the resource being returned.",
    )
    .case_exact()
    .mutability(M::ReadOnly)
    .refs(&["uri"]),
    s("version", "The version (entity tag) of the resource.")
        .case_exact()
        .mutability(M::ReadOnly),
];

/// The common attributes of every resource (RFC 7643 §3.1).
pub static COMMON_ATTRIBUTES: &[AttributeDef] = &[
    s(
        "id",
        "Unique identifier for the SCIM resource as defined by the service provider.",
    )
    .case_exact()
    .mutability(M::ReadOnly)
    .returned(Returned::Always)
    .unique(Uniqueness::Server),
    s(
        "externalId",
        "An identifier for the resource as defined by the provisioning client.",
    )
    .case_exact(),
    AttributeDef::new("meta", T::Complex, "Resource metadata.")
        .mutability(M::ReadOnly)
        .subs(META_SUBS),
];

const fn multi(
    name: &'static str,
    description: &'static str,
    subs: &'static [AttributeDef],
) -> AttributeDef {
    AttributeDef::new(name, T::Complex, description)
        .multi()
        .subs(subs)
}

const USER_ATTRS: &[AttributeDef] = &[
    s(
        "userName",
        "Unique identifier for the User, typically used to sign in.",
    )
    .required()
    .unique(Uniqueness::Server),
    // Write-only: an IdP that syncs passwords (Okta) sets the backend password; it is never
    // returned, and the directory keeps only its hash.
    s(
        "password",
        "The User's cleartext password, for setting or changing it; never returned.",
    )
    .case_exact()
    .mutability(Mutability::WriteOnly)
    .returned(Returned::Never),
    AttributeDef::new(
        "name",
        T::Complex,
        "The components of the user's real name.",
    )
    .subs(NAME_SUBS),
    s(
        "displayName",
        "The name of the User, suitable for display to end-users.",
    ),
    s(
        "nickName",
        "The casual way to address the user in real life.",
    ),
    AttributeDef::new(
        "profileUrl",
        T::Reference,
        "A fully qualified URL pointing to a page representing the User's online profile.",
    )
    .refs(&["external"]),
    s("title", "The user's title, such as \"Vice President\"."),
    s(
        "userType",
        "Used to identify the relationship between the organization and the user.",
    ),
    s(
        "preferredLanguage",
        "Indicates the User's preferred written or spoken language (RFC 7231 §5.3.5).",
    ),
    s(
        "locale",
        "Used to indicate the User's default location for purposes of localizing items.",
    ),
    s(
        "timezone",
        "The User's time zone in the 'Olson' time zone database format.",
    ),
    AttributeDef::new(
        "active",
        T::Boolean,
        "A Boolean value indicating the User's administrative status.",
    ),
    multi("emails", "Email addresses for the user.", EMAIL_SUBS),
    multi("phoneNumbers", "Phone numbers for the User.", PHONE_SUBS),
    multi("ims", "Instant messaging addresses for the User.", IM_SUBS),
    multi("photos", "URLs of photos of the User.", PHOTO_SUBS),
    multi(
        "addresses",
        "A physical mailing address for this User.",
        ADDRESS_SUBS,
    ),
    multi(
        "entitlements",
        "A list of entitlements for the User.",
        MULTI_SUBS,
    ),
    multi("roles", "A list of roles for the User.", MULTI_SUBS),
    multi(
        "x509Certificates",
        "A list of certificates issued to the User.",
        CERT_SUBS,
    ),
];

const MANAGER_SUBS: &[AttributeDef] = &[
    s(
        "value",
        "The id of the SCIM resource representing the User's manager.",
    ),
    AttributeDef::new(
        "$ref",
        T::Reference,
        "The URI of the SCIM resource representing the User's manager.",
    )
    .refs(&["User"]),
    s("displayName", "The displayName of the User's manager.").mutability(M::ReadOnly),
];

const ENTERPRISE_ATTRS: &[AttributeDef] = &[
    s(
        "employeeNumber",
        "Numeric or alphanumeric identifier assigned to a person.",
    ),
    s("costCenter", "Identifies the name of a cost center."),
    s("organization", "Identifies the name of an organization."),
    s("division", "Identifies the name of a division."),
    s("department", "Identifies the name of a department."),
    AttributeDef::new("manager", T::Complex, "The User's manager.").subs(MANAGER_SUBS),
];

const E2EI_ATTRS: &[AttributeDef] = &[
    s(
        "team",
        "The Wire team the user belongs to (set by the service provider; returned on request).",
    )
    .case_exact()
    .mutability(M::ReadOnly)
    .returned(Returned::Request),
    s(
        "handle",
        "The user's Wire handle, when it differs from userName (e.g. userName is a UPN); \
         without it the handle is userName.",
    )
    .unique(Uniqueness::Server),
];

const MEMBER_SUBS: &[AttributeDef] = &[
    s("value", "Identifier of the member of this Group.")
        .case_exact()
        .mutability(M::Immutable),
    AttributeDef::new("$ref", T::Reference, "The URI of the member resource.")
        .case_exact()
        .mutability(M::Immutable)
        .refs(&["User", "Group"]),
    // Filled in by the directory (the member's display name); returned when asked for
    // (`attributes=members.display`), so a member list reads back as it was written.
    s("display", "A human-readable name of the member.")
        .mutability(M::ReadOnly)
        .returned(Returned::Request),
    s("type", "The type of the member.")
        .mutability(M::Immutable)
        .canonical(&["User", "Group"]),
];

const GROUP_ATTRS: &[AttributeDef] = &[
    s("displayName", "A human-readable name for the Group.").required(),
    multi("members", "A list of members of the Group.", MEMBER_SUBS),
];

/// The core User schema (RFC 7643 §4.1) without `groups`.
pub static USER_SCHEMA_DEF: SchemaDef = SchemaDef {
    id: USER_SCHEMA,
    name: "User",
    description: "User Account",
    attributes: USER_ATTRS,
};
/// The Enterprise User extension (RFC 7643 §4.3).
pub static ENTERPRISE_USER_SCHEMA_DEF: SchemaDef = SchemaDef {
    id: ENTERPRISE_USER_SCHEMA,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: ENTERPRISE_ATTRS,
};
/// The e2ei User extension: the Wire team and handle (both set by the server).
pub static E2EI_USER_SCHEMA_DEF: SchemaDef = SchemaDef {
    id: E2EI_USER_SCHEMA,
    name: "E2eiUser",
    description: "Wire end-to-end identity attributes of a User",
    attributes: E2EI_ATTRS,
};
/// The core Group schema (RFC 7643 §4.2).
pub static GROUP_SCHEMA_DEF: SchemaDef = SchemaDef {
    id: GROUP_SCHEMA,
    name: "Group",
    description: "Group",
    attributes: GROUP_ATTRS,
};

/// Every schema served at `/Schemas`.
pub static ALL_SCHEMAS: [&SchemaDef; 4] = [
    &USER_SCHEMA_DEF,
    &ENTERPRISE_USER_SCHEMA_DEF,
    &E2EI_USER_SCHEMA_DEF,
    &GROUP_SCHEMA_DEF,
];

/// A resource type's full schema: the common attributes, a core schema and its extensions.
#[derive(Debug)]
pub struct ResourceSchema {
    /// The resource type.
    pub kind: ResourceKind,
    /// The core schema.
    pub core: &'static SchemaDef,
    /// The schema extensions, none of them required.
    pub extensions: &'static [&'static SchemaDef],
}

/// The User resource type.
pub static USER: ResourceSchema = ResourceSchema {
    kind: ResourceKind::User,
    core: &USER_SCHEMA_DEF,
    extensions: &[&ENTERPRISE_USER_SCHEMA_DEF, &E2EI_USER_SCHEMA_DEF],
};
/// The Group resource type.
pub static GROUP: ResourceSchema = ResourceSchema {
    kind: ResourceKind::Group,
    core: &GROUP_SCHEMA_DEF,
    extensions: &[],
};

/// Where an attribute lives in a resource document.
#[derive(Debug, Clone, Copy)]
pub struct ResolvedAttr {
    /// `None` for common and core attributes (top level of the document); the extension's
    /// schema for extension attributes (nested under the extension URN key).
    pub extension: Option<&'static SchemaDef>,
    /// The attribute.
    pub attr: &'static AttributeDef,
    /// The sub-attribute, when the path names one.
    pub sub: Option<&'static AttributeDef>,
}

impl ResolvedAttr {
    /// The definition of the value the path designates: the sub-attribute if named, else the
    /// attribute itself.
    pub fn leaf(&self) -> &'static AttributeDef {
        self.sub.unwrap_or(self.attr)
    }
}

impl ResourceSchema {
    /// The extension with this URN (case-insensitive).
    pub fn extension(&self, urn: &str) -> Option<&'static SchemaDef> {
        self.extensions
            .iter()
            .copied()
            .find(|e| e.id.eq_ignore_ascii_case(urn))
    }

    /// Whether `urn` is this type's core schema or one of its extensions (case-insensitive).
    pub fn knows_schema(&self, urn: &str) -> bool {
        self.core.id.eq_ignore_ascii_case(urn) || self.extension(urn).is_some()
    }

    /// A top-level attribute, by optional schema URN and name, case-insensitively. Without a
    /// URN, the common and core attributes are searched first, then the extensions.
    pub fn top_level(
        &self,
        schema: Option<&str>,
        name: &str,
    ) -> Option<(Option<&'static SchemaDef>, &'static AttributeDef)> {
        let common_or_core = || {
            COMMON_ATTRIBUTES
                .iter()
                .find(|a| a.name.eq_ignore_ascii_case(name))
                .or_else(|| self.core.attribute(name))
        };
        match schema {
            Some(urn) if self.core.id.eq_ignore_ascii_case(urn) => {
                common_or_core().map(|a| (None, a))
            }
            Some(urn) => {
                let ext = self.extension(urn)?;
                ext.attribute(name).map(|a| (Some(ext), a))
            }
            None => common_or_core().map(|a| (None, a)).or_else(|| {
                self.extensions
                    .iter()
                    .find_map(|e| e.attribute(name).map(|a| (Some(*e), a)))
            }),
        }
    }

    /// Resolve an attribute path (case-insensitive; URN-prefixed or not).
    pub fn resolve(&self, path: &AttrPath) -> Option<ResolvedAttr> {
        let (extension, attr) = self.top_level(path.schema.as_deref(), &path.attr)?;
        let sub = match &path.sub_attr {
            None => None,
            Some(name) => Some(attr.sub_attribute(name)?),
        };
        Some(ResolvedAttr {
            extension,
            attr,
            sub,
        })
    }

    /// Every schema URN of this type (core first).
    pub fn schema_ids(&self) -> impl Iterator<Item = &'static str> + '_ {
        std::iter::once(self.core.id).chain(self.extensions.iter().map(|e| e.id))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn path(s: &str) -> AttrPath {
        AttrPath::parse(s).unwrap()
    }

    #[test]
    fn resolves_paths_case_insensitively_and_with_urn_prefix() {
        let r = USER.resolve(&path("USERNAME")).unwrap();
        assert_eq!(r.attr.name, "userName");
        assert!(r.extension.is_none());
        let r = USER
            .resolve(&path(
                "urn:ietf:params:scim:schemas:core:2.0:User:name.GivenName",
            ))
            .unwrap();
        assert_eq!(r.leaf().name, "givenName");
        let r = USER
            .resolve(&path(
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            ))
            .unwrap();
        assert_eq!(r.extension.map(|e| e.id), Some(ENTERPRISE_USER_SCHEMA));
        assert_eq!(r.leaf().name, "value");
        assert!(USER.resolve(&path("groups")).is_none());
        assert!(USER.resolve(&path("name.nope")).is_none());
    }
}
