//! Billing: each workspace's account at the provider (its customer and the subscription as
//! last read), the ledger of provider webhooks (what makes processing exactly-once), and the
//! new `workspace.billing.manage` permission, given to every Owner and Admin role.

use sea_orm_migration::{prelude::*, schema::*};

use crate::shared::{grant_to_owners_and_admins, revoke_from_every_role};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BillingAccounts::Table)
                    .col(string_len(BillingAccounts::WorkspaceId, 64).primary_key())
                    .col(string_len_uniq(BillingAccounts::CustomerId, 255))
                    .col(string_len_null(BillingAccounts::SubscriptionId, 255))
                    .col(string_len_null(BillingAccounts::PlanKey, 48))
                    .col(string_len_null(BillingAccounts::Status, 32))
                    .col(big_integer(BillingAccounts::Quantity).default(0))
                    .col(timestamp_with_time_zone_null(
                        BillingAccounts::CurrentPeriodEnd,
                    ))
                    .col(boolean(BillingAccounts::CancelAtPeriodEnd).default(false))
                    .col(timestamp_with_time_zone_null(BillingAccounts::TrialEnd))
                    // When the subscription last became past due: the grace period runs from it.
                    .col(timestamp_with_time_zone_null(BillingAccounts::PastDueSince))
                    .col(timestamp_with_time_zone(BillingAccounts::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(BillingAccounts::Table, BillingAccounts::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BillingWebhookEvents::Table)
                    .col(string_len(BillingWebhookEvents::Id, 255).primary_key())
                    .col(string_len(BillingWebhookEvents::Kind, 128))
                    .col(timestamp_with_time_zone(BillingWebhookEvents::ReceivedAt))
                    .col(timestamp_with_time_zone_null(
                        BillingWebhookEvents::ProcessedAt,
                    ))
                    // `applied`, `ignored` or `unknown_customer`.
                    .col(string_len_null(BillingWebhookEvents::Outcome, 32))
                    .to_owned(),
            )
            .await?;
        grant_to_owners_and_admins(manager, "workspace.billing.manage").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        revoke_from_every_role(manager, "workspace.billing.manage").await?;
        for table in [
            BillingWebhookEvents::Table.into_iden(),
            BillingAccounts::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum BillingAccounts {
    Table,
    WorkspaceId,
    CustomerId,
    SubscriptionId,
    PlanKey,
    Status,
    Quantity,
    CurrentPeriodEnd,
    CancelAtPeriodEnd,
    TrialEnd,
    PastDueSince,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum BillingWebhookEvents {
    Table,
    Id,
    Kind,
    ReceivedAt,
    ProcessedAt,
    Outcome,
}

#[derive(DeriveIden)]
enum Workspaces {
    Table,
    Id,
}
