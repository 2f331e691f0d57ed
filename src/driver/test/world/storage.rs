//! Storage pools and volumes of the test world, with the simulated capacity accounting.

use super::*;

/// Pool type bits of `virConnectListAllStoragePoolsFlags`, from `LIST_POOLS_DIR` upwards.
const POOL_TYPES: [&str; 14] = [
    "dir",
    "fs",
    "netfs",
    "logical",
    "disk",
    "iscsi",
    "scsi",
    "mpath",
    "rbd",
    "sheepdog",
    "gluster",
    "zfs",
    "vstorage",
    "iscsi-direct",
];

fn pool_type_bit(pool_type: &str) -> u32 {
    POOL_TYPES
        .iter()
        .position(|t| *t == pool_type)
        .map(|i| flags::LIST_POOLS_DIR << i)
        .unwrap_or(0)
}

impl World {
    fn pool(&self, pool: &PoolRef) -> Result<&PoolObj> {
        self.pools.get(&pool.uuid).ok_or_else(|| {
            no_pool(format!(
                "no storage pool with matching uuid '{}' ({})",
                pool.uuid, pool.name
            ))
        })
    }

    fn active_pool(&self, pool: &PoolRef) -> Result<&PoolObj> {
        let obj = self.pool(pool)?;
        if !obj.active {
            return Err(op_invalid(format!(
                "storage pool '{}' is not active",
                obj.def.name
            )));
        }
        Ok(obj)
    }

    pub(in crate::driver::test) fn lookup_pool_by_name(&self, name: &str) -> Result<PoolRef> {
        self.pools
            .values()
            .find(|p| p.def.name == name)
            .map(PoolObj::handle)
            .ok_or_else(|| no_pool(format!("no storage pool with matching name '{name}'")))
    }

    pub(in crate::driver::test) fn lookup_pool_by_uuid(&self, uuid: &Uuid) -> Result<PoolRef> {
        self.pools
            .get(uuid)
            .map(PoolObj::handle)
            .ok_or_else(|| no_pool(format!("no storage pool with matching uuid '{uuid}'")))
    }

    pub(in crate::driver::test) fn lookup_pool_by_volume(
        &self,
        vol: &VolumeRef,
    ) -> Result<PoolRef> {
        self.lookup_pool_by_name(&vol.pool)
    }

    pub(in crate::driver::test) fn list_pools(&self, list_flags: u32) -> Result<Vec<PoolRef>> {
        let type_bits = ((1u32 << POOL_TYPES.len()) - 1) * flags::LIST_POOLS_DIR;
        check_flags(
            list_flags,
            type_bits | (flags::LIST_POOLS_DIR - 1),
            "virConnectListAllStoragePools",
        )?;
        let active = wanted(
            list_flags,
            flags::LIST_POOLS_ACTIVE,
            flags::LIST_POOLS_INACTIVE,
        );
        let persistent = wanted(
            list_flags,
            flags::LIST_POOLS_PERSISTENT,
            flags::LIST_POOLS_TRANSIENT,
        );
        let autostart = wanted(
            list_flags,
            flags::LIST_POOLS_AUTOSTART,
            flags::LIST_POOLS_NO_AUTOSTART,
        );
        let mut found: Vec<&PoolObj> = self
            .pools
            .values()
            .filter(|p| {
                (list_flags & type_bits == 0 || list_flags & pool_type_bit(&p.def.pool_type) != 0)
                    && passes(active, p.active)
                    && passes(persistent, p.persistent)
                    && passes(autostart, p.autostart)
            })
            .collect();
        found.sort_by(|a, b| a.def.name.cmp(&b.def.name));
        Ok(found.into_iter().map(PoolObj::handle).collect())
    }

    fn pool_clash(&self, def: &PoolDef) -> Result<Option<&PoolObj>> {
        if let Some(existing) = self.pools.get(&def.uuid) {
            if existing.def.name != def.name {
                return Err(op_failed(
                    ErrorDomain::STORAGE,
                    format!(
                        "pool '{}' is already defined with uuid {}",
                        existing.def.name, def.uuid
                    ),
                ));
            }
            return Ok(Some(existing));
        }
        if let Some(existing) = self.pools.values().find(|p| p.def.name == def.name) {
            return Err(op_failed(
                ErrorDomain::STORAGE,
                format!(
                    "pool '{}' already exists with uuid {}",
                    def.name, existing.def.uuid
                ),
            ));
        }
        Ok(None)
    }

    /// libvirt's test driver gives every pool the same simulated size; allocation follows its volumes.
    fn with_sizes(&self, mut def: PoolDef) -> PoolDef {
        let used = self
            .volumes
            .values()
            .filter(|v| v.pool == def.uuid)
            .fold(0u64, |sum, v| sum.saturating_add(v.allocation()));
        def.capacity = POOL_CAPACITY;
        def.allocation = used;
        def.available = POOL_CAPACITY.saturating_sub(used);
        def
    }

    pub(in crate::driver::test) fn define_pool(
        &mut self,
        store: &dyn Persist,
        def: PoolDef,
    ) -> Result<PoolRef> {
        validate_name("pool", &def.name)?;
        let def = self.with_sizes(def);
        let changed = match self.pool_clash(&def)? {
            Some(existing) => PoolObj {
                def,
                persistent: true,
                ..existing.clone()
            },
            None => PoolObj {
                def,
                persistent: true,
                active: false,
                autostart: false,
            },
        };
        store.save_pool(&changed)?;
        let handle = changed.handle();
        self.pools.insert(changed.def.uuid, changed);
        Ok(handle)
    }

    pub(in crate::driver::test) fn create_pool_xml(
        &mut self,
        store: &dyn Persist,
        def: PoolDef,
        create_flags: u32,
    ) -> Result<PoolRef> {
        check_flags(create_flags, 0b111, "virStoragePoolCreateXML")?;
        validate_name("pool", &def.name)?;
        let def = self.with_sizes(def);
        let changed = match self.pool_clash(&def)? {
            Some(existing) if existing.active => {
                return Err(op_invalid(format!("storage pool '{}' is active", def.name)));
            }
            Some(existing) => PoolObj {
                def,
                active: true,
                ..existing.clone()
            },
            None => PoolObj {
                def,
                persistent: false,
                active: true,
                autostart: false,
            },
        };
        store.save_pool(&changed)?;
        let handle = changed.handle();
        self.pools.insert(changed.def.uuid, changed);
        Ok(handle)
    }

    pub(in crate::driver::test) fn build_pool(
        &self,
        pool: &PoolRef,
        build_flags: u32,
    ) -> Result<()> {
        check_flags(build_flags, 0b1111, "virStoragePoolBuild")?;
        let obj = self.pool(pool)?;
        if obj.active {
            return Err(op_invalid(format!(
                "storage pool '{}' is active",
                obj.def.name
            )));
        }
        // Nothing to build: the test driver's pools are simulated.
        Ok(())
    }

    pub(in crate::driver::test) fn delete_pool(
        &self,
        pool: &PoolRef,
        delete_flags: u32,
    ) -> Result<()> {
        check_flags(delete_flags, 0, "virStoragePoolDelete")?;
        let obj = self.pool(pool)?;
        if obj.active {
            return Err(op_invalid(format!(
                "storage pool '{}' is active",
                obj.def.name
            )));
        }
        // Nothing to remove: the test driver's pools are simulated.
        Ok(())
    }

    pub(in crate::driver::test) fn start_pool(
        &mut self,
        store: &dyn Persist,
        pool: &PoolRef,
        create_flags: u32,
    ) -> Result<()> {
        check_flags(create_flags, 0b111, "virStoragePoolCreate")?;
        let obj = self.pool(pool)?;
        if obj.active {
            return Err(op_invalid(format!(
                "storage pool '{}' is active",
                obj.def.name
            )));
        }
        let changed = PoolObj {
            active: true,
            ..obj.clone()
        };
        store.save_pool(&changed)?;
        self.pools.insert(changed.def.uuid, changed);
        Ok(())
    }

    /// Removes a pool and its volumes: the pool file first, so a crash leaves only orphan volumes, which the
    /// loader reports and skips.
    fn forget_pool(&mut self, store: &dyn Persist, uuid: Uuid) -> Result<()> {
        store.remove_pool(&uuid)?;
        self.pools.remove(&uuid);
        let owned: Vec<Uuid> = self
            .volumes
            .values()
            .filter(|v| v.pool == uuid)
            .map(|v| v.file_id)
            .collect();
        for file_id in owned {
            if let Err(err) = store.remove_volume(&file_id) {
                tracing::warn!("volume file of a removed pool stays behind: {err}");
            }
            self.volumes.remove(&file_id);
        }
        Ok(())
    }

    pub(in crate::driver::test) fn destroy_pool(
        &mut self,
        store: &dyn Persist,
        pool: &PoolRef,
    ) -> Result<()> {
        let obj = self.active_pool(pool)?;
        if obj.persistent {
            let changed = PoolObj {
                active: false,
                ..obj.clone()
            };
            store.save_pool(&changed)?;
            self.pools.insert(changed.def.uuid, changed);
            Ok(())
        } else {
            let uuid = obj.def.uuid;
            self.forget_pool(store, uuid)
        }
    }

    pub(in crate::driver::test) fn undefine_pool(
        &mut self,
        store: &dyn Persist,
        pool: &PoolRef,
    ) -> Result<()> {
        let obj = self.pool(pool)?;
        if obj.active {
            return Err(op_invalid(format!(
                "storage pool '{}' is active",
                obj.def.name
            )));
        }
        let uuid = obj.def.uuid;
        self.forget_pool(store, uuid)
    }

    pub(in crate::driver::test) fn refresh_pool(
        &mut self,
        pool: &PoolRef,
        refresh_flags: u32,
    ) -> Result<()> {
        check_flags(refresh_flags, 0, "virStoragePoolRefresh")?;
        self.active_pool(pool)?;
        self.recompute_pool_allocations();
        Ok(())
    }

    pub(in crate::driver::test) fn pool_info(&self, pool: &PoolRef) -> Result<PoolInfo> {
        let obj = self.pool(pool)?;
        Ok(PoolInfo {
            state: if obj.active {
                pool_state::RUNNING
            } else {
                pool_state::INACTIVE
            },
            capacity: obj.def.capacity,
            allocation: obj.def.allocation,
            available: obj.def.available,
        })
    }

    pub(in crate::driver::test) fn pool_xml(
        &self,
        pool: &PoolRef,
        xml_flags: u32,
    ) -> Result<String> {
        check_flags(
            xml_flags,
            flags::STORAGE_XML_INACTIVE,
            "virStoragePoolGetXMLDesc",
        )?;
        Ok(self.pool(pool)?.def.to_xml())
    }

    pub(in crate::driver::test) fn pool_autostart(&self, pool: &PoolRef) -> Result<bool> {
        Ok(self.pool(pool)?.autostart)
    }

    pub(in crate::driver::test) fn pool_is_active(&self, pool: &PoolRef) -> Result<bool> {
        Ok(self.pool(pool)?.active)
    }

    pub(in crate::driver::test) fn pool_is_persistent(&self, pool: &PoolRef) -> Result<bool> {
        Ok(self.pool(pool)?.persistent)
    }

    pub(in crate::driver::test) fn set_pool_autostart(
        &mut self,
        store: &dyn Persist,
        pool: &PoolRef,
        autostart: bool,
    ) -> Result<()> {
        let obj = self.pool(pool)?;
        if !obj.persistent {
            return Err(Error::invalid_arg(
                ErrorDomain::TEST,
                "pool has no config file",
            ));
        }
        if obj.autostart == autostart {
            return Ok(());
        }
        let changed = PoolObj {
            autostart,
            ..obj.clone()
        };
        store.save_pool(&changed)?;
        self.pools.insert(changed.def.uuid, changed);
        Ok(())
    }

    pub(in crate::driver::test) fn list_volumes(
        &self,
        pool: &PoolRef,
        list_flags: u32,
    ) -> Result<Vec<VolumeRef>> {
        check_flags(list_flags, 0, "virStoragePoolListAllVolumes")?;
        let obj = self.pool(pool)?;
        if !obj.active {
            return Err(op_invalid("storage pool is not active"));
        }
        let mut found: Vec<&VolumeObj> = self
            .volumes
            .values()
            .filter(|v| v.pool == obj.def.uuid)
            .collect();
        found.sort_by(|a, b| a.def.name.cmp(&b.def.name));
        Ok(found
            .into_iter()
            .map(|v| self.volume_handle(obj, v))
            .collect())
    }

    // ---------------------------------------------------------------- volumes

    fn volume_handle(&self, pool: &PoolObj, vol: &VolumeObj) -> VolumeRef {
        VolumeRef {
            pool: pool.def.name.clone(),
            name: vol.def.name.clone(),
            key: vol.def.key.clone().unwrap_or_default(),
        }
    }

    /// The volume a handle names, with its (active) pool.
    fn volume(&self, vol: &VolumeRef) -> Result<(&PoolObj, &VolumeObj)> {
        let pool_ref = self.lookup_pool_by_name(&vol.pool)?;
        let pool = self.active_pool(&pool_ref)?;
        let found = self
            .volumes
            .values()
            .find(|v| v.pool == pool.def.uuid && v.def.name == vol.name)
            .ok_or_else(|| {
                no_volume(format!("no storage vol with matching name '{}'", vol.name))
            })?;
        Ok((pool, found))
    }

    pub(in crate::driver::test) fn lookup_volume_by_name(
        &self,
        pool: &PoolRef,
        name: &str,
    ) -> Result<VolumeRef> {
        let obj = self.active_pool(pool)?;
        self.volumes
            .values()
            .find(|v| v.pool == obj.def.uuid && v.def.name == name)
            .map(|v| self.volume_handle(obj, v))
            .ok_or_else(|| no_volume(format!("no storage vol with matching name '{name}'")))
    }

    fn find_volume_in_active_pools(
        &self,
        matches: impl Fn(&VolumeObj) -> bool,
    ) -> Option<VolumeRef> {
        self.volumes.values().find_map(|v| {
            let pool = self.pools.get(&v.pool).filter(|p| p.active)?;
            matches(v).then(|| self.volume_handle(pool, v))
        })
    }

    pub(in crate::driver::test) fn lookup_volume_by_key(&self, key: &str) -> Result<VolumeRef> {
        self.find_volume_in_active_pools(|v| v.def.key.as_deref() == Some(key))
            .ok_or_else(|| no_volume(format!("no storage vol with matching key '{key}'")))
    }

    pub(in crate::driver::test) fn lookup_volume_by_path(&self, path: &str) -> Result<VolumeRef> {
        self.find_volume_in_active_pools(|v| v.def.path.as_deref() == Some(path))
            .ok_or_else(|| no_volume(format!("no storage vol with matching path '{path}'")))
    }

    pub(in crate::driver::test) fn create_volume(
        &mut self,
        store: &dyn Persist,
        pool: &PoolRef,
        mut def: VolumeDef,
    ) -> Result<VolumeRef> {
        validate_name("volume", &def.name)?;
        let obj = self.active_pool(pool)?;
        if self
            .volumes
            .values()
            .any(|v| v.pool == obj.def.uuid && v.def.name == def.name)
        {
            // libvirt's test driver words it so, not with its "volume exists" code.
            return Err(op_failed(ErrorDomain::TEST, "storage vol already exists"));
        }
        let allocation = *def.allocation.get_or_insert(def.capacity);
        if obj.def.allocation.saturating_add(allocation) > obj.def.capacity {
            return Err(Error::internal(
                ErrorDomain::TEST,
                format!("Not enough free space in pool for volume '{}'", def.name),
            ));
        }
        let path = format!(
            "{}/{}",
            obj.def
                .target_path
                .as_deref()
                .unwrap_or("")
                .trim_end_matches('/'),
            def.name
        );
        def.key = Some(path.clone());
        def.path = Some(path);
        if def.vol_type.is_empty() {
            def.vol_type = "file".into();
        }
        // A dir pool's volumes are raw files unless the definition says otherwise (as libvirt reports them).
        if def.format.is_none() {
            def.format = Some("raw".into());
        }
        let vol = VolumeObj {
            pool: obj.def.uuid,
            def,
            file_id: Uuid::new_v4(),
        };
        store.save_volume(&vol)?;
        let handle = self.volume_handle(obj, &vol);
        self.volumes.insert(vol.file_id, vol);
        self.recompute_pool_allocations();
        Ok(handle)
    }

    /// `virStorageVolCreateXMLFrom` as libvirt's test driver does it: a new volume of `def` in `pool`, once the
    /// volume it clones is found in that pool by name (the test world holds no data to copy).
    pub(in crate::driver::test) fn clone_volume(
        &mut self,
        store: &dyn Persist,
        pool: &PoolRef,
        def: VolumeDef,
        source: &VolumeRef,
    ) -> Result<VolumeRef> {
        let obj = self.active_pool(pool)?;
        let in_pool = |name: &str| {
            self.volumes
                .values()
                .any(|v| v.pool == obj.def.uuid && v.def.name == name)
        };
        // A name already taken is refused first, with the create's own words.
        if !in_pool(&def.name) && !in_pool(&source.name) {
            return Err(no_volume(format!(
                "no storage vol with matching name '{}'",
                source.name
            )));
        }
        self.create_volume(store, pool, def)
    }

    pub(in crate::driver::test) fn delete_volume(
        &mut self,
        store: &dyn Persist,
        vol: &VolumeRef,
        delete_flags: u32,
    ) -> Result<()> {
        // ZEROED (1), WITH_SNAPSHOTS (2): nothing to wipe in a simulated volume.
        check_flags(delete_flags, 0b11, "virStorageVolDelete")?;
        let (_, obj) = self.volume(vol)?;
        let file_id = obj.file_id;
        store.remove_volume(&file_id)?;
        self.volumes.remove(&file_id);
        self.recompute_pool_allocations();
        Ok(())
    }

    pub(in crate::driver::test) fn resize_volume(
        &mut self,
        store: &dyn Persist,
        vol: &VolumeRef,
        capacity: u64,
        resize_flags: u32,
    ) -> Result<()> {
        check_flags(
            resize_flags,
            flags::VOL_RESIZE_ALLOCATE | flags::VOL_RESIZE_DELTA | flags::VOL_RESIZE_SHRINK,
            "virStorageVolResize",
        )?;
        let (pool, obj) = self.volume(vol)?;
        let current = obj.def.capacity;
        let new_capacity = if resize_flags & flags::VOL_RESIZE_DELTA != 0 {
            if resize_flags & flags::VOL_RESIZE_SHRINK != 0 {
                current.checked_sub(capacity)
            } else {
                current.checked_add(capacity)
            }
            .ok_or_else(|| Error::invalid_arg(ErrorDomain::TEST, "capacity out of range"))?
        } else {
            capacity
        };
        if new_capacity < current && resize_flags & flags::VOL_RESIZE_SHRINK == 0 {
            return Err(Error::invalid_arg(
                ErrorDomain::TEST,
                "Can't shrink capacity below current capacity unless shrink flag explicitly specified",
            ));
        }
        let allocation = obj.allocation();
        if new_capacity < allocation {
            return Err(Error::invalid_arg(
                ErrorDomain::TEST,
                "Can't shrink capacity below current allocation",
            ));
        }
        let mut changed = obj.clone();
        changed.def.capacity = new_capacity;
        if resize_flags & flags::VOL_RESIZE_ALLOCATE != 0 {
            let extra = new_capacity - allocation;
            if extra > pool.def.available {
                return Err(op_failed(
                    ErrorDomain::TEST,
                    "Not enough space left in storage pool",
                ));
            }
            changed.def.allocation = Some(new_capacity);
        }
        store.save_volume(&changed)?;
        self.volumes.insert(changed.file_id, changed);
        self.recompute_pool_allocations();
        Ok(())
    }

    pub(in crate::driver::test) fn volume_info(&self, vol: &VolumeRef) -> Result<VolumeInfo> {
        let (_, obj) = self.volume(vol)?;
        let kind = match obj.def.vol_type.as_str() {
            "block" => vol_type::BLOCK,
            "dir" => vol_type::DIR,
            "network" => vol_type::NETWORK,
            "netdir" => vol_type::NETDIR,
            "ploop" => vol_type::PLOOP,
            _ => vol_type::FILE,
        };
        Ok(VolumeInfo {
            kind,
            capacity: obj.def.capacity,
            allocation: obj.allocation(),
        })
    }

    pub(in crate::driver::test) fn volume_path(&self, vol: &VolumeRef) -> Result<String> {
        let (_, obj) = self.volume(vol)?;
        Ok(obj.def.path.clone().unwrap_or_default())
    }

    pub(in crate::driver::test) fn volume_xml(
        &self,
        vol: &VolumeRef,
        xml_flags: u32,
    ) -> Result<String> {
        check_flags(xml_flags, 0, "virStorageVolGetXMLDesc")?;
        let (_, obj) = self.volume(vol)?;
        Ok(obj.def.to_xml())
    }
}
