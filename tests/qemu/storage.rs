//! `dir` pools and `qemu-img` volumes of a `qemu:///` connection (the host's storage driver), through the driver
//! API on a temp state dir.

use virtcim::{flags, pool_state, vol_type, QemuDriver, QemuMode};

#[tokio::test]
async fn dir_pool_and_volumes_on_a_real_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let images = tmp.path().join("images");
    let driver = QemuDriver::open(&state, QemuMode::System).await.unwrap();
    let conn = driver.clone().connection();
    assert!(
        conn.list_all_storage_pools(0).await.unwrap().is_empty(),
        "no default pool is made"
    );

    let xml = format!(
        "<pool type='dir'><name>images</name><uuid>3b5f2d0c-1111-4222-8333-444455556666</uuid>\
         <target><path>{}</path></target></pool>",
        images.display()
    );
    let pool = conn.pool_define_xml(&xml, 0).await.unwrap();
    assert!(state.join("qemu/storage/images.json").is_file());
    assert!(
        conn.pool_create(&pool, 0).await.is_err(),
        "the directory does not exist yet"
    );
    conn.pool_build(&pool, 0).await.unwrap();
    assert!(images.is_dir());
    conn.pool_create(&pool, 0).await.unwrap();
    let info = conn.pool_get_info(&pool).await.unwrap();
    assert_eq!(info.state, pool_state::RUNNING);
    assert!(info.capacity > 0 && info.available <= info.capacity);

    let raw = conn
        .vol_create_xml(&pool, "<volume><name>disk.raw</name><capacity unit='MiB'>4</capacity><target><format type='raw'/></target></volume>", 0)
        .await
        .unwrap();
    let qcow = conn
        .vol_create_xml(&pool, "<volume><name>disk.qcow2</name><capacity unit='MiB'>16</capacity><target><format type='qcow2'/></target></volume>", 0)
        .await
        .unwrap();
    assert!(conn
        .vol_create_xml(
            &pool,
            "<volume><name>disk.raw</name><capacity>1</capacity></volume>",
            0
        )
        .await
        .is_err());
    let names: Vec<String> = conn
        .pool_list_all_volumes(&pool, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(names, ["disk.qcow2", "disk.raw"]);
    let info = conn.vol_get_info(&qcow).await.unwrap();
    assert_eq!((info.kind, info.capacity), (vol_type::FILE, 16 << 20));
    assert!(info.allocation < info.capacity, "qcow2 starts sparse");
    let path = conn.vol_get_path(&raw).await.unwrap();
    assert_eq!(path, images.join("disk.raw").to_string_lossy());
    assert_eq!(
        conn.vol_lookup_by_path(&path).await.unwrap().name,
        "disk.raw"
    );
    let vol_xml = conn.vol_get_xml_desc(&qcow, 0).await.unwrap();
    assert!(vol_xml.contains("qcow2"), "{vol_xml}");

    conn.vol_resize(&qcow, 32 << 20, 0).await.unwrap();
    assert_eq!(conn.vol_get_info(&qcow).await.unwrap().capacity, 32 << 20);
    assert!(
        conn.vol_resize(&qcow, 8 << 20, 0).await.is_err(),
        "shrinking needs the flag"
    );
    conn.vol_resize(&raw, 1 << 20, flags::VOL_RESIZE_DELTA)
        .await
        .unwrap();
    assert_eq!(conn.vol_get_info(&raw).await.unwrap().capacity, 5 << 20);

    conn.vol_delete(&raw, 0).await.unwrap();
    assert!(!images.join("disk.raw").exists());
    assert!(conn.vol_lookup_by_name(&pool, "disk.raw").await.is_err());
    assert!(
        conn.vol_lookup_by_name(&pool, "../state").await.is_err(),
        "names cannot leave the pool"
    );

    assert!(
        conn.pool_undefine(&pool).await.is_err(),
        "an active pool cannot be undefined"
    );
    conn.pool_destroy(&pool).await.unwrap();
    // Pools are persistent: a new driver sees the pool.
    drop(conn);
    drop(driver);
    let driver = QemuDriver::open(&state, QemuMode::System).await.unwrap();
    let conn = driver.clone().connection();
    let pool = conn.pool_lookup_by_name("images").await.unwrap();
    assert!(!conn.pool_is_active(&pool).await.unwrap());
    conn.pool_undefine(&pool).await.unwrap();
    assert!(conn.list_all_storage_pools(0).await.unwrap().is_empty());
}
