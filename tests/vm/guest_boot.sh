#!/bin/sh
# Stage two, on the host's own root (overlaid): the host's udevd with its rules and hwdb, the
# network to the host (QEMU user networking), then the command service the tests drive.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8
echo "vm-boot: stage two"
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
hostname classroom-vm
# The host's /etc/fstab, /etc/machine-id and friends stay as they are: nothing here reads them.
rm -f /run/nologin
modprobe virtio_console
modprobe virtio_net
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
/lib/systemd/systemd-udevd --daemon
udevadm trigger --action=add --type=subsystems
udevadm trigger --action=add --type=devices
udevadm settle --timeout=60
echo "vm-boot: udev settled"
port=/dev/virtio-ports/org.classroomd.agent
[ -e "$port" ] || port=$(ls /dev/vport*p1 | head -n1)
exec python3 "$(dirname "$0")/guest_agent.py" "$port"
