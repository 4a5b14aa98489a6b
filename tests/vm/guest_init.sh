#!/bin/sh
# The guest's /init (busybox): mount the host's root read-only over 9p under a tmpfs overlay, the
# results share beside it, and hand over to the stage named on the kernel command line.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules/order); do insmod "/modules/$m" || echo "vm-init: insmod $m failed"; done
stage=""
init=""
for word in $(cat /proc/cmdline); do
  case "$word" in
    classroomd.stage=*) stage="${word#classroomd.stage=}" ;;
    classroomd.init=*) init="${word#classroomd.init=}" ;;  # a root's own init (systemd), not a script
  esac
done
# cache=loose: the host's root does not change under the guest, and Python's imports over 9p
# without a page cache are several times slower under emulation.
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro hostroot /host || {
  echo "vm-init: cannot mount the host root"; poweroff -f; }
mount -t tmpfs -o mode=0755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work /newroot || {
  echo "vm-init: cannot mount the overlay"; poweroff -f; }
for d in proc sys dev; do mount --move "/$d" "/newroot/$d"; done
# /tmp stays the overlay's (writes land in the tmpfs upper layer): a checkout under the host's /tmp,
# as a CI clone often is, must stay visible to the guest.
mount -t tmpfs -o mode=0755 tmpfs /newroot/run
mkdir -p /newroot/mnt/vm-out
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 results /newroot/mnt/vm-out || \
  echo "vm-init: no results share"
if [ -n "$init" ]; then
  umount /newroot/run /newroot/tmp 2>/dev/null  # systemd mounts its own
  echo "vm-init: switching to $init"
  exec switch_root /newroot "$init"
fi
echo "vm-init: switching to $stage"
exec switch_root /newroot /bin/sh "$stage"
