pid=7712
starttime=4108142
boot_id=0f92e76f-47bb-47cf-90cd-2a361276ccd3
host=vm
uid=0
gen=1795787163330145
since=1795787163
cmd=true
