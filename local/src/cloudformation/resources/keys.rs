//! The template's KMS keys and their aliases on moto. A key has no name, only a generated id, so
//! a deploy finds the key of an earlier deploy through its alias.

use aws_sdk_kms::types::AliasListEntry;

use super::rollback::DEFAULT_PENDING_WINDOW_IN_DAYS;
use super::{Deletion, DeployError, Deployed, Physical, failed, find_listed, incomplete};

/// Keys first, then their aliases. A key is found again through its alias: if one of the
/// aliases the template gives it exists, its target is the key.
pub(super) async fn deploy_keys_and_aliases(
    kms: &aws_sdk_kms::Client,
    deployed: &mut Deployed,
) -> Result<(), DeployError> {
    let mut aliases = Vec::new();
    for alias in deployed.template.aliases() {
        let name = deployed.resolve_for(&alias.logical_id, &alias.name)?;
        aliases.push((alias, name));
    }

    for key in deployed.template.keys() {
        let mut existing_key = None;
        for (alias, name) in aliases
            .iter()
            .filter(|(a, _)| a.target_key == key.logical_id)
        {
            existing_key = alias_target(kms, &alias.logical_id, name).await?;
            if existing_key.is_some() {
                break;
            }
        }
        let created = existing_key.is_none();
        let metadata = match existing_key {
            Some(key_id) => kms
                .describe_key()
                .key_id(key_id)
                .send()
                .await
                .map_err(failed(&key.logical_id, "DescribeKey"))?
                .key_metadata
                .ok_or(incomplete(&key.logical_id, "DescribeKey", "KeyMetadata"))?,
            None => {
                let description =
                    deployed.resolve_optional_for(&key.logical_id, key.description.as_ref())?;
                kms.create_key()
                    .set_description(description)
                    .send()
                    .await
                    .map_err(failed(&key.logical_id, "CreateKey"))?
                    .key_metadata
                    .ok_or(incomplete(&key.logical_id, "CreateKey", "KeyMetadata"))?
            }
        };
        let arn = metadata
            .arn()
            .ok_or(incomplete(&key.logical_id, "DescribeKey", "Arn"))?
            .to_owned();
        let id = metadata.key_id().to_owned();
        if created {
            let pending_window_in_days = key
                .pending_window_in_days
                .unwrap_or(DEFAULT_PENDING_WINDOW_IN_DAYS);
            let deletion = Deletion::Key {
                id: id.clone(),
                pending_window_in_days,
            };
            deployed.created_now(&key.logical_id, deletion);
        }
        deployed.record(&key.logical_id, Physical::Key { id, arn });
    }

    for (alias, name) in aliases {
        let key_id = deployed
            .created_resource(&alias.target_key)
            .map_err(|cause| DeployError::Resolve {
                logical_id: alias.logical_id.clone(),
                cause,
            })?
            .reference()
            .to_owned();
        match alias_target(kms, &alias.logical_id, &name).await? {
            Some(target) if target == key_id => {}
            // The alias names another key: point it at this one, as the template says.
            Some(_) => {
                kms.update_alias()
                    .alias_name(&name)
                    .target_key_id(&key_id)
                    .send()
                    .await
                    .map_err(failed(&alias.logical_id, "UpdateAlias"))?;
            }
            None => {
                kms.create_alias()
                    .alias_name(&name)
                    .target_key_id(&key_id)
                    .send()
                    .await
                    .map_err(failed(&alias.logical_id, "CreateAlias"))?;
                let deletion = Deletion::Alias { name: name.clone() };
                deployed.created_now(&alias.logical_id, deletion);
            }
        }
        deployed.record(&alias.logical_id, Physical::Alias { name });
    }
    Ok(())
}

/// The id of the key the alias `name` points at, if the alias exists.
async fn alias_target(
    kms: &aws_sdk_kms::Client,
    logical_id: &str,
    name: &str,
) -> Result<Option<String>, DeployError> {
    let listed = kms.list_aliases().into_paginator().items().send();
    let named = |alias: &AliasListEntry| alias.alias_name() == Some(name);
    let found = find_listed(listed.collect(), logical_id, "ListAliases", named);
    Ok(found.await?.and_then(|alias| alias.target_key_id))
}
