//! What an admin role can be allowed to do: one enum of resource × action. The permission list
//! of the roles API, the check of the role templates and every [`super::rbac::Rbac::require`]
//! come from it, so a permission that guards nothing cannot be listed.

/// A permission, stored in casbin rules as object `products` and action `write`, and shown in
/// the API as `products:write`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, poem_openapi::Enum)]
pub enum Permission {
    #[oai(rename = "products:read")]
    ProductsRead,
    #[oai(rename = "products:write")]
    ProductsWrite,
    #[oai(rename = "categories:read")]
    CategoriesRead,
    #[oai(rename = "categories:write")]
    CategoriesWrite,
    #[oai(rename = "staff:read")]
    StaffRead,
    #[oai(rename = "staff:write")]
    StaffWrite,
    #[oai(rename = "roles:read")]
    RolesRead,
    #[oai(rename = "roles:write")]
    RolesWrite,
    #[oai(rename = "shop:read")]
    ShopRead,
    #[oai(rename = "shop:write")]
    ShopWrite,
    #[oai(rename = "domains:read")]
    DomainsRead,
    #[oai(rename = "domains:write")]
    DomainsWrite,
    #[oai(rename = "customers:read")]
    CustomersRead,
    #[oai(rename = "orders:read")]
    OrdersRead,
    #[oai(rename = "orders:write")]
    OrdersWrite,
    #[oai(rename = "discounts:read")]
    DiscountsRead,
    #[oai(rename = "discounts:write")]
    DiscountsWrite,
    #[oai(rename = "shipping:read")]
    ShippingRead,
    #[oai(rename = "shipping:write")]
    ShippingWrite,
    #[oai(rename = "webhooks:read")]
    WebhooksRead,
    #[oai(rename = "webhooks:write")]
    WebhooksWrite,
}

impl Permission {
    pub const ALL: [Permission; 21] = [
        Self::ProductsRead,
        Self::ProductsWrite,
        Self::CategoriesRead,
        Self::CategoriesWrite,
        Self::StaffRead,
        Self::StaffWrite,
        Self::RolesRead,
        Self::RolesWrite,
        Self::ShopRead,
        Self::ShopWrite,
        Self::DomainsRead,
        Self::DomainsWrite,
        Self::CustomersRead,
        Self::OrdersRead,
        Self::OrdersWrite,
        Self::DiscountsRead,
        Self::DiscountsWrite,
        Self::ShippingRead,
        Self::ShippingWrite,
        Self::WebhooksRead,
        Self::WebhooksWrite,
    ];

    /// The casbin object (the resource).
    pub fn object(self) -> &'static str {
        match self {
            Self::ProductsRead | Self::ProductsWrite => "products",
            Self::CategoriesRead | Self::CategoriesWrite => "categories",
            Self::StaffRead | Self::StaffWrite => "staff",
            Self::RolesRead | Self::RolesWrite => "roles",
            Self::ShopRead | Self::ShopWrite => "shop",
            Self::DomainsRead | Self::DomainsWrite => "domains",
            Self::CustomersRead => "customers",
            Self::OrdersRead | Self::OrdersWrite => "orders",
            Self::DiscountsRead | Self::DiscountsWrite => "discounts",
            Self::ShippingRead | Self::ShippingWrite => "shipping",
            Self::WebhooksRead | Self::WebhooksWrite => "webhooks",
        }
    }

    /// The casbin action: `read` or `write`.
    pub fn action(self) -> &'static str {
        match self {
            Self::ProductsRead
            | Self::CategoriesRead
            | Self::StaffRead
            | Self::RolesRead
            | Self::ShopRead
            | Self::DomainsRead
            | Self::CustomersRead
            | Self::OrdersRead
            | Self::DiscountsRead
            | Self::ShippingRead
            | Self::WebhooksRead => "read",
            _ => "write",
        }
    }

    /// `object:action`, as the roles API shows it.
    pub fn name(self) -> String {
        format!("{}:{}", self.object(), self.action())
    }

    /// The permission named `object:action`.
    pub fn parse(name: &str) -> Option<Self> {
        let (object, action) = name.split_once(':')?;
        Self::from_parts(object, action)
    }

    /// The permission of a casbin rule's object and action.
    pub fn from_parts(object: &str, action: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.object() == object && p.action() == action)
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.object(), self.action())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for permission in Permission::ALL {
            assert!(seen.insert(permission.name()), "{permission} listed twice");
            assert_eq!(Permission::parse(&permission.name()), Some(permission));
        }
        assert_eq!(Permission::parse("customers:write"), None);
        assert_eq!(Permission::parse("products"), None);
    }
}
