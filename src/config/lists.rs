//! The lists section: how much of a big list one answer carries.

use super::Vars;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListSettings {
    /// Members inlined in `GET /v1/workspaces/{slug}` (`WORKSPACE_MEMBERS_INLINE`, 200;
    /// 1 to 10,000); the rest come from the paginated members route.
    pub workspace_members_inline: u64,
    /// Above this many users (`USER_COUNT_ESTIMATE_ABOVE`, 100,000), the unfiltered
    /// `admin/list-users` total is the database's estimate, not a count of every row.
    pub user_count_estimate_above: u64,
}

impl Vars {
    pub(super) fn lists(&mut self) -> ListSettings {
        let inline = self.parse("WORKSPACE_MEMBERS_INLINE", 200u64, "a number of members");
        if !(1..=10_000).contains(&inline) {
            self.problems.push(format!(
                "WORKSPACE_MEMBERS_INLINE must be 1 to 10000 (got {inline})"
            ));
        }
        ListSettings {
            workspace_members_inline: inline,
            user_count_estimate_above: self.parse(
                "USER_COUNT_ESTIMATE_ABOVE",
                100_000,
                "a number of users",
            ),
        }
    }
}
