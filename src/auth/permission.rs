//! What an admin role can be allowed to do: one enum of resource × action. The permission list
//! of the roles API, the check of the role templates and every [`super::rbac::Rbac::require`]
//! come from it, so a permission that guards nothing cannot be listed.

/// A permission, stored in casbin rules as object `products` and action `write`, and shown in
/// the API as `products:write`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    ProductsRead,
    ProductsWrite,
    CategoriesRead,
    CategoriesWrite,
    StaffRead,
    StaffWrite,
    RolesRead,
    RolesWrite,
    ShopRead,
    ShopWrite,
    DomainsRead,
    DomainsWrite,
    CustomersRead,
    OrdersRead,
    OrdersWrite,
    DiscountsRead,
    DiscountsWrite,
    ShippingRead,
    ShippingWrite,
    WebhooksRead,
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
